{# Rows whose `columns` together repeat: the model's grain is not what it says. Nulls count as one value. #}
{% test unique_combination(model, columns) %}
select {{ columns | join(', ') }}, count(*) as rows_with_this_key
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}

{# Values outside [min, max]. #}
{% test between(model, column_name, min, max) %}
select * from {{ model }} where {{ column_name }} < {{ min }} or {{ column_name }} > {{ max }}
{% endtest %}

{# A cumulative value below the one of an earlier period of the same series. #}
{% test never_decreasing(model, column_name, series) %}
with ordered as (
  select {{ column_name }} as value,
         max({{ column_name }}) over (partition by {{ series }} order by period
                                      rows between unbounded preceding and 1 preceding) as earlier_max
  from {{ model }}
  where {{ column_name }} is not null
)
select * from ordered where value < earlier_max - 1e-9
{% endtest %}
