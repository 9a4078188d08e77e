{# AppLovin MAX: revenue (applovin_cohort_revenue) and sessions (applovin_cohort_sessions) per app x platform x
   country x cohort x day. Its values are "within x days of the install", so pub_revenue is cumulative; platforms
   are summed into the app (package_name); retention is the installs-weighted mean of AppLovin's own. AppLovin is
   the monetisation side: no source. ad_revenue_cumulative (ads only, no in-app purchases) is for cohort_roas. #}
{% set revenue = tap_table('applovin_cohort_revenue') %}
{% set sessions = tap_table('applovin_cohort_sessions') %}
{% set revenue_cols = column_names(revenue) %}
{% set session_cols = column_names(sessions) %}
{% if revenue is none and sessions is none %}
select *, cast(null as {{ cohorts_number() }}) as ad_revenue_cumulative from ({{ empty_cohort_rows() }}) empty_rows
{% else %}
with
{% if revenue is not none %}
revenue_rows as (
  select
    {{ text_column(revenue_cols, ['package_name', 'application']) }} as app_id,
    cast(cohort_date as date) as cohort_date,
    upper({{ text_column(revenue_cols, ['country']) }}) as country,
    cast(period as {{ dbt.type_int() }}) as period,
    sum({{ number_column(revenue_cols, 'installs') }}) as installs,
    sum({{ number_column(revenue_cols, 'pub_revenue') }}) as revenue_cumulative,
    sum({{ number_column(revenue_cols, 'ads_pub_revenue') }}) as ad_revenue_cumulative,
    min({{ final_flag(revenue_cols) }}) as final_flag
  from {{ revenue }}
  where {{ current_rows(revenue_cols) }}
  group by 1, 2, 3, 4
),
{% endif %}
{% if sessions is not none %}
session_rows as (
  select
    {{ text_column(session_cols, ['package_name', 'application']) }} as app_id,
    cast(cohort_date as date) as cohort_date,
    upper({{ text_column(session_cols, ['country']) }}) as country,
    cast(period as {{ dbt.type_int() }}) as period,
    sum({{ number_column(session_cols, 'installs') }}) as installs,
    sum({{ number_column(session_cols, 'user_count') }}) as active_users,
    sum({{ number_column(session_cols, 'session_count') }}) as sessions,
    sum({{ number_column(session_cols, 'retention') }} * {{ number_column(session_cols, 'installs') }})
      / nullif(sum({{ number_column(session_cols, 'installs') }}), 0) as retention_rate,
    min({{ final_flag(session_cols) }}) as final_flag
  from {{ sessions }}
  where {{ current_rows(session_cols) }}
  group by 1, 2, 3, 4
),
{% endif %}
joined as (
  select
  {% if revenue is not none and sessions is not none %}
    coalesce(r.app_id, s.app_id) as app_id,
    coalesce(r.cohort_date, s.cohort_date) as cohort_date,
    coalesce(r.country, s.country) as country,
    coalesce(r.period, s.period) as period,
    coalesce(r.installs, s.installs) as cohort_size,
    s.active_users, s.retention_rate, s.sessions, r.revenue_cumulative, r.ad_revenue_cumulative,
    case when r.final_flag = 0 or s.final_flag = 0 then 0 when r.final_flag = 1 or s.final_flag = 1 then 1 end
      as final_flag
  from revenue_rows r
  full outer join session_rows s
    on r.app_id = s.app_id and r.cohort_date = s.cohort_date and r.country = s.country and r.period = s.period
  {% elif revenue is not none %}
    app_id, cohort_date, country, period, installs as cohort_size,
    cast(null as {{ cohorts_number() }}) as active_users,
    cast(null as {{ cohorts_number() }}) as retention_rate,
    cast(null as {{ cohorts_number() }}) as sessions,
    revenue_cumulative, ad_revenue_cumulative, final_flag
  from revenue_rows
  {% else %}
    app_id, cohort_date, country, period, installs as cohort_size, active_users, retention_rate, sessions,
    cast(null as {{ cohorts_number() }}) as revenue_cumulative,
    cast(null as {{ cohorts_number() }}) as ad_revenue_cumulative, final_flag
  from session_rows
  {% endif %}
)
select
  cast('applovin' as {{ dbt.type_string() }}) as vendor,
  app_id, cohort_date, country,
  cast(null as {{ dbt.type_string() }}) as source,
  period,
  cast('day' as {{ dbt.type_string() }}) as period_unit,
  cohort_size, active_users, retention_rate, sessions,
  {{ revenue_from_cumulative('revenue_cumulative', 'app_id, cohort_date, country') }} as revenue,
  revenue_cumulative,
  cast(null as {{ cohorts_number() }}) as cost,
  cast('USD' as {{ dbt.type_string() }}) as currency,
  {{ flag_to_final('final_flag') }} as is_final,
  ad_revenue_cumulative
from joined
{% endif %}
