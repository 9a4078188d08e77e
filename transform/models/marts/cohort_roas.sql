{# ROAS by app x cohort_date x country x day since install: one attribution vendor's cost against its own
   cumulative revenue plus AppLovin's cumulative ad revenue for the same app (var('apps') maps the vendors' app
   ids), cohort date, country and day. roas is null where the cost is not above 0 or a source lacks revenue. #}
with apps as (
  {% for app in var('apps') %}
  select
    cast('{{ app.app }}' as {{ dbt.type_string() }}) as app,
    cast({{ "'" ~ app.appsflyer ~ "'" if app.appsflyer else 'null' }} as {{ dbt.type_string() }}) as appsflyer,
    cast({{ "'" ~ app.adjust ~ "'" if app.adjust else 'null' }} as {{ dbt.type_string() }}) as adjust,
    cast({{ "'" ~ app.branch ~ "'" if app.branch else 'null' }} as {{ dbt.type_string() }}) as branch,
    cast({{ "'" ~ app.applovin ~ "'" if app.applovin else 'null' }} as {{ dbt.type_string() }}) as applovin
  {% if not loop.last %}union all{% endif %}
  {% endfor %}
),
attribution as (
  select
    m.vendor, apps.app, m.cohort_date, m.country, m.period,
    sum(m.cost) as cost,
    sum(m.revenue_cumulative) as vendor_revenue,
    count(*) as source_rows,
    count(m.revenue_cumulative) as source_rows_with_revenue,
    max(m.currency) as currency,
    min(case when m.is_final then 1 when not m.is_final then 0 end) as final_flag
  from {{ ref('cohort_metrics') }} m
  join apps
    on (m.vendor = 'appsflyer' and m.app_id = apps.appsflyer)
    or (m.vendor = 'adjust' and m.app_id = apps.adjust)
    or (m.vendor = 'branch' and m.app_id = apps.branch)
  where m.period_unit = 'day'
  group by m.vendor, apps.app, m.cohort_date, m.country, m.period
),
ad_revenue as (
  select apps.app, s.cohort_date, s.country, s.period, sum(s.ad_revenue_cumulative) as ad_revenue,
    min(case when s.is_final then 1 when not s.is_final then 0 end) as final_flag
  from {{ ref('stg_applovin_cohorts') }} s
  join apps on s.app_id = apps.applovin
  group by apps.app, s.cohort_date, s.country, s.period
)
select
  a.vendor as cost_vendor,
  a.app, a.cohort_date, a.country, a.period,
  a.cost,
  a.vendor_revenue,
  r.ad_revenue,
  a.vendor_revenue + coalesce(r.ad_revenue, 0) as revenue,
  case when a.cost > 0 and a.source_rows_with_revenue = a.source_rows
    then (a.vendor_revenue + coalesce(r.ad_revenue, 0)) / a.cost end as roas,
  a.currency,
  -- Final only when every value it adds up is.
  case when a.final_flag = 0 or r.final_flag = 0 then false when a.final_flag = 1 then true end as is_final
from attribution a
left join ad_revenue r
  on r.app = a.app and r.cohort_date = a.cohort_date and r.country = a.country and r.period = a.period
