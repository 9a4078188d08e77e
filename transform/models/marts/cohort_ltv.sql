{# LTV curves: cumulative revenue per install by day since install, per vendor x app x cohort x country x
   source, wherever the vendor gives (or the staging model can add up) cumulative revenue. #}
select
  vendor, app_id, cohort_date, country, source, period,
  cohort_size,
  revenue_cumulative,
  revenue_cumulative / nullif(cohort_size, 0) as ltv,
  currency,
  is_final
from {{ ref('cohort_metrics') }}
where period_unit = 'day' and revenue_cumulative is not null
