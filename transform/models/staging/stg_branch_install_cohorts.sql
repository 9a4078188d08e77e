{# Branch install cohorts: one row per measure x metric x cohort x dimension_key x band. Measures are what the
   user configured: OPEN (total_count: sessions; unique_count: active users), revenue, Retention and cost map;
   others stay in the tap's table. Per-user values are multiplied back by the cohort's users. Branch's export has
   no app: var('branch_app_id') names it. #}
{% set relation = tap_table('branch_install_cohorts') %}
{% set cols = column_names(relation) %}
{% if relation is none %}
{{ empty_cohort_rows() }}
{% else %}
with source_rows as (
  select
    cast({{ "'" ~ var('branch_app_id') ~ "'" if var('branch_app_id') else 'null' }} as {{ dbt.type_string() }}) as app_id,
    cast(cohort_date as date) as cohort_date,
    upper({{ text_column(cols, ['install_activity_data_country_code', 'user_data_geo_country_code']) }}) as country,
    {{ text_column(cols, ['install_activity_touch_data_tilde_channel', 'install_activity_touch_data_tilde_campaign',
                          'install_activity_touch_data_tilde_feature']) }} as source,
    cast(period as {{ dbt.type_int() }}) as period,
    cast(period_unit as {{ dbt.type_string() }}) as period_unit,
    measure, metric,
    case when per_user and measure <> 'Retention' then value * users else value end as value,
    cumulative,
    {{ number_column(cols, 'users') }} as users,
    {{ number_column(cols, 'cost') }} as cost,
    {{ final_flag(cols) }} as final_flag
  from {{ relation }}
  where {{ current_rows(cols) }}
),
per_measure as (
  select
    app_id, cohort_date, country, source, period, period_unit, measure, metric, cumulative,
    sum(value) as value, sum(users) as users, sum(cost) as cost, min(final_flag) as final_flag
  from source_rows
  group by app_id, cohort_date, country, source, period, period_unit, measure, metric, cumulative
),
pivoted as (
  select
    app_id, cohort_date, country, source, period, period_unit,
    max(users) as cohort_size,
    max(case when measure = 'OPEN' and metric = 'unique_count' then value end) as active_users,
    max(case when measure = 'Retention' then value end) as retention_rate,
    max(case when measure = 'OPEN' and metric = 'total_count' then value end) as sessions,
    max(case when measure = 'revenue' and not cumulative then value end) as revenue,
    max(case when measure = 'revenue' and cumulative then value end) as reported_cumulative,
    max(cost) as cost,
    min(final_flag) as final_flag
  from per_measure
  group by app_id, cohort_date, country, source, period, period_unit
)
select
  cast('branch' as {{ dbt.type_string() }}) as vendor,
  app_id, cohort_date, country, source, period, period_unit,
  cohort_size, active_users, retention_rate, sessions, revenue,
  coalesce(reported_cumulative,
           {{ cumulative_from_revenue('revenue', 'app_id, cohort_date, country, source, period_unit') }})
    as revenue_cumulative,
  cost,
  cast(null as {{ dbt.type_string() }}) as currency,
  {{ flag_to_final('final_flag') }} as is_final
from pivoted
{% endif %}
