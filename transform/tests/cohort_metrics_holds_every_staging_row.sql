{# Every staging row reaches cohort_metrics, per vendor: none dropped, none made twice. #}
with staged as (
  select 'appsflyer' as vendor, count(*) as n from {{ ref('stg_appsflyer_cohorts') }}
  union all select 'adjust', count(*) from {{ ref('stg_adjust_report_cohorts') }}
  union all select 'branch', count(*) from {{ ref('stg_branch_install_cohorts') }}
  union all select 'applovin', count(*) from {{ ref('stg_applovin_cohorts') }}
),
unified as (
  select vendor, count(*) as n from {{ ref('cohort_metrics') }} group by vendor
)
select s.vendor, s.n as staged, coalesce(u.n, 0) as unified
from staged s left join unified u on u.vendor = s.vendor
where coalesce(u.n, 0) <> s.n
