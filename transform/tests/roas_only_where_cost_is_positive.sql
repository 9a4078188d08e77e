{# A ROAS without a cost above 0 would be a division by nothing dressed up as a number. #}
select * from {{ ref('cohort_roas') }} where roas is not null and not (cost > 0)
