{# Every cohort vendor in one long table: one row per vendor x app x cohort_date x country x source x period
   (docs/unified-model.md maps each vendor's fields to these columns). #}
{% set columns = ['vendor', 'app_id', 'cohort_date', 'country', 'source', 'period', 'period_unit', 'cohort_size',
                  'active_users', 'retention_rate', 'sessions', 'revenue', 'revenue_cumulative', 'cost', 'currency', 'is_final'] %}
{% for model in ['stg_appsflyer_cohorts', 'stg_adjust_report_cohorts', 'stg_branch_install_cohorts',
                 'stg_applovin_cohorts'] %}
select {{ columns | join(', ') }} from {{ ref(model) }}
{% if not loop.last %}union all{% endif %}
{% endfor %}
