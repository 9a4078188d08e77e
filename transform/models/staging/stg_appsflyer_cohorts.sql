{# AppsFlyer: one row per app x cohort type x KPI x aggregation x cohort x dimension_key x period. Here the
   configured cohort type only, KPI rows pivoted into the unified columns (sessions: count and unique users;
   revenue: sum; retention: rate), groupings other than geo (country) and pid (source) summed over. #}
{% set relation = tap_table('appsflyer_cohorts') %}
{% set cols = column_names(relation) %}
{% if relation is none %}
{{ empty_cohort_rows() }}
{% else %}
with source_rows as (
  select
    cast(app_id as {{ dbt.type_string() }}) as app_id,
    cast(cohort_date as date) as cohort_date,
    upper({{ text_column(cols, ['geo']) }}) as country,
    {{ text_column(cols, ['pid', 'af_prt', 'c']) }} as source,
    cast(period as {{ dbt.type_int() }}) as period,
    lower(kpi) as kpi,
    aggregation_type,
    {{ number_column(cols, 'users') }} as users,
    {{ number_column(cols, 'cost') }} as cost,
    {{ number_column(cols, 'count') }} as total,
    {{ number_column(cols, 'sum') }} as amount,
    {{ number_column(cols, 'unique_users') }} as uniques,
    {{ number_column(cols, 'rate') }} as rate,
    {{ final_flag(cols) }} as final_flag
  from {{ relation }}
  where cohort_type = '{{ var("appsflyer_cohort_type") }}' and {{ current_rows(cols) }}
),
per_kpi as (
  select
    app_id, cohort_date, country, source, period, kpi, aggregation_type,
    sum(users) as users,
    sum(cost) as cost,
    sum(total) as total,
    sum(amount) as amount,
    sum(uniques) as uniques,
    sum(rate * users) / nullif(sum(case when rate is not null then users end), 0) as rate,
    min(final_flag) as final_flag
  from source_rows
  group by app_id, cohort_date, country, source, period, kpi, aggregation_type
),
pivoted as (
  select
    app_id, cohort_date, country, source, period,
    max(users) as cohort_size,
    max(case when kpi = 'sessions' then uniques end) as active_users,
    max(case when kpi = 'retention' then rate end) as retention_rate,
    max(case when kpi = 'sessions' then total end) as sessions,
    max(case when kpi = 'revenue' and aggregation_type = 'on_day' then amount end) as revenue,
    max(case when kpi = 'revenue' and aggregation_type = 'cumulative' then amount end) as reported_cumulative,
    max(cost) as cost,
    min(final_flag) as final_flag
  from per_kpi
  group by app_id, cohort_date, country, source, period
)
select
  cast('appsflyer' as {{ dbt.type_string() }}) as vendor,
  app_id, cohort_date, country, source, period,
  cast('day' as {{ dbt.type_string() }}) as period_unit,
  cohort_size, active_users, retention_rate, sessions, revenue,
  coalesce(reported_cumulative, {{ cumulative_from_revenue('revenue', 'app_id, cohort_date, country, source') }})
    as revenue_cumulative,
  cost,
  cast(null as {{ dbt.type_string() }}) as currency,
  {{ flag_to_final('final_flag') }} as is_final
from pivoted
{% endif %}
