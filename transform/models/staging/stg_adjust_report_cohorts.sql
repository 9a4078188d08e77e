{# Adjust's Report Service: one row per app x cohort x dimension_key x day since install. revenue_total is
   cumulative; a day's own revenue is the difference from the day before, where that day was asked. Dimensions
   other than country_code (country) and network (source) are summed over; retention is the cohort-size-weighted
   mean of Adjust's own rates (one row per key: Adjust's rate itself). #}
{% set relation = tap_table('adjust_report_cohorts') %}
{% set cols = column_names(relation) %}
{% if relation is none %}
{{ empty_cohort_rows() }}
{% else %}
with source_rows as (
  select
    cast(app_token as {{ dbt.type_string() }}) as app_id,
    cast(cohort_date as date) as cohort_date,
    upper({{ text_column(cols, ['country_code']) }}) as country,
    {{ text_column(cols, ['network', 'partner_name', 'channel', 'campaign']) }} as source,
    cast(period as {{ dbt.type_int() }}) as period,
    {{ number_column(cols, 'cohort_size') }} as cohort_size,
    {{ number_column(cols, 'retained_users') }} as retained_users,
    {{ number_column(cols, 'retention_rate') }} as retention_rate,
    {{ number_column(cols, 'sessions') }} as sessions,
    {{ number_column(cols, 'revenue_total') }} as revenue_total,
    {{ number_column(cols, 'network_cost') }} as cost,
    cast(currency as {{ dbt.type_string() }}) as currency,
    {{ final_flag(cols) }} as final_flag
  from {{ relation }}
  where {{ current_rows(cols) }}
),
grain as (
  select
    app_id, cohort_date, country, source, period, currency,
    sum(cohort_size) as cohort_size,
    sum(retained_users) as active_users,
    sum(retention_rate * cohort_size) / nullif(sum(case when retention_rate is not null then cohort_size end), 0)
      as retention_rate,
    sum(sessions) as sessions,
    sum(revenue_total) as revenue_cumulative,
    sum(cost) as cost,
    min(final_flag) as final_flag
  from source_rows
  group by app_id, cohort_date, country, source, period, currency
)
select
  cast('adjust' as {{ dbt.type_string() }}) as vendor,
  app_id, cohort_date, country, source, period,
  cast('day' as {{ dbt.type_string() }}) as period_unit,
  cohort_size, active_users, retention_rate, sessions,
  {{ revenue_from_cumulative('revenue_cumulative', 'app_id, cohort_date, country, source') }} as revenue,
  revenue_cumulative, cost, currency,
  {{ flag_to_final('final_flag') }} as is_final
from grain
{% endif %}
