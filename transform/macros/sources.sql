{# The tap's table `name` in the source schema, or none when the user did not configure that stream. #}
{% macro tap_table(name) %}
  {% if not execute %}{{ return(none) }}{% endif %}
  {{ return(adapter.get_relation(database=target.database, schema=var('source_schema'), identifier=name)) }}
{% endmacro %}

{# The lower-case column names of a relation (none: no columns). #}
{% macro column_names(relation) %}
  {% if relation is none %}{{ return([]) }}{% endif %}
  {{ return(adapter.get_columns_in_relation(relation) | map(attribute='name') | map('lower') | list) }}
{% endmacro %}

{# The first of `candidates` the relation has, as an expression cast to text, else a typed null. #}
{% macro text_column(columns, candidates) %}
  {%- for name in candidates if name in columns -%}
    {%- if loop.first %}cast({{ adapter.quote(name) }} as {{ dbt.type_string() }}){% endif -%}
  {%- else -%}
    cast(null as {{ dbt.type_string() }})
  {%- endfor -%}
{% endmacro %}

{# A numeric column if the relation has it, else a typed null. #}
{% macro number_column(columns, name) %}
  {%- if name in columns -%}cast({{ adapter.quote(name) }} as {{ cohorts_number() }}){%- else -%}cast(null as {{ cohorts_number() }}){%- endif -%}
{% endmacro %}

{# The rows the vendor still returns: where the loader keeps `_sdc_deleted_at`, the ones not marked superseded or
   deleted (macros/supersede.sql); a loader without it has had them deleted. #}
{% macro current_rows(columns) %}
  {%- if '_sdc_deleted_at' in columns -%}_sdc_deleted_at is null{%- else -%}1 = 1{%- endif -%}
{% endmacro %}

{# The tap's is_final as 1 / 0 (null: loaded before the tap said), so min() over rows is "all of them final". #}
{% macro final_flag(columns) %}
  {%- if 'is_final' in columns -%}case when is_final then 1 when not is_final then 0 end{%- else -%}cast(null as {{ dbt.type_int() }}){%- endif -%}
{% endmacro %}

{# A min() of final flags back as a boolean. #}
{% macro flag_to_final(flag) %}
  case when {{ flag }} = 1 then true when {{ flag }} = 0 then false end
{% endmacro %}

{# The unified columns, all null, for a vendor whose table is absent: the model builds empty. #}
{% macro empty_cohort_rows() %}
select
  cast(null as {{ dbt.type_string() }}) as vendor,
  cast(null as {{ dbt.type_string() }}) as app_id,
  cast(null as date) as cohort_date,
  cast(null as {{ dbt.type_string() }}) as country,
  cast(null as {{ dbt.type_string() }}) as source,
  cast(null as {{ dbt.type_int() }}) as period,
  cast(null as {{ dbt.type_string() }}) as period_unit,
  cast(null as {{ cohorts_number() }}) as cohort_size,
  cast(null as {{ cohorts_number() }}) as active_users,
  cast(null as {{ cohorts_number() }}) as retention_rate,
  cast(null as {{ cohorts_number() }}) as sessions,
  cast(null as {{ cohorts_number() }}) as revenue,
  cast(null as {{ cohorts_number() }}) as revenue_cumulative,
  cast(null as {{ cohorts_number() }}) as cost,
  cast(null as {{ dbt.type_string() }}) as currency,
  cast(null as boolean) as is_final
where 1 = 0
{% endmacro %}

{# Revenue per period from a cumulative series, where the period before it is there (days 3 and 7 of a series of
   days 0, 1, 3, 7 are not consecutive, so day 7's own revenue is unknown: null). #}
{% macro revenue_from_cumulative(cumulative, partition) %}
  case when lag(period) over (partition by {{ partition }} order by period) = period - 1
    then {{ cumulative }} - lag({{ cumulative }}) over (partition by {{ partition }} order by period)
    when period = 0 then {{ cumulative }}
  end
{% endmacro %}

{# A cumulative series from per-period revenue, where every period from 0 is there. #}
{% macro cumulative_from_revenue(revenue, partition) %}
  case when count({{ revenue }}) over (partition by {{ partition }} order by period rows between unbounded preceding and current row) = period + 1
    then sum({{ revenue }}) over (partition by {{ partition }} order by period rows between unbounded preceding and current row)
  end
{% endmacro %}

{# Numbers as doubles everywhere (dbt's type_float is a 4-byte float in DuckDB: cents would be lost). #}
{% macro cohorts_number() %}double precision{% endmacro %}
