{#
  The post-load step that keeps the loaded tables equal to the vendors (docs/warehouses.md, "How the warehouse stays equal to
  the vendor"). Upserts by primary key cannot remove a row whose key the vendor no longer returns; this can.

  Cohort tables: `cohort_syncs` holds one row per unit a run asked the vendor again (stream, sync_partition,
  first_date..last_date, synced_at). A cohort row of that stream and partition, dated in that range, with an older
  synced_at (or none) is one the vendor's latest answer does not hold: superseded. A grain change writes a unit for
  all dates, so every row of the old grain goes.

  Braze lists: a list read whole writes a unit (reason `list`); its rows with an older synced_at were deleted at
  Braze. The details and data series of an object no longer current are superseded with it.

  Superseded rows are marked (`_sdc_deleted_at`) where the loader keeps that column (target-postgres and
  target-snowflake with add_record_metadata), else deleted (target-duckdb). A row whose key comes back is upserted
  with `_sdc_deleted_at` null again. Run as `dbt run-operation supersede_stale_rows`, and before every dbt build.
#}

{# The cohort streams' tables. #}
{% macro cohort_tables() %}
  {{ return([
    'appsflyer_cohorts', 'branch_install_cohorts', 'branch_reengagement_cohorts', 'adjust_cohorts',
    'adjust_tracker_cohorts', 'adjust_app_cohorts', 'adjust_report_cohorts', 'applovin_cohort_revenue',
    'applovin_cohort_impressions', 'applovin_cohort_sessions'
  ]) }}
{% endmacro %}

{# Braze's lists: their key, and the tables (with the column) that hang off each object. #}
{% macro braze_lists() %}
  {{ return([
    {'list': 'braze_segments', 'key': 'id', 'children': [
      ('braze_segment_details', 'segment_id'), ('braze_segment_data_series', 'segment_id')]},
    {'list': 'braze_campaigns', 'key': 'id', 'children': [
      ('braze_campaign_details', 'campaign_id'), ('braze_campaign_data_series', 'campaign_id')]},
    {'list': 'braze_canvases', 'key': 'id', 'children': [
      ('braze_canvas_details', 'canvas_id'), ('braze_canvas_data_series', 'canvas_id')]},
    {'list': 'braze_cards', 'key': 'id', 'children': [
      ('braze_card_details', 'card_id'), ('braze_card_data_series', 'card_id')]},
    {'list': 'braze_events', 'key': 'name', 'children': [('braze_event_data_series', 'event')]},
    {'list': 'braze_products', 'key': 'name', 'children': [('braze_purchase_quantity_series', 'product')]},
  ]) }}
{% endmacro %}

{# Mark (or delete) the rows of `relation` that `condition` selects; log how many. #}
{% macro supersede_where(relation, columns, condition) %}
  {% set soft = '_sdc_deleted_at' in columns %}
  {% set live = '_sdc_deleted_at is null and ' if soft else '' %}
  {% set found = run_query('select count(*) from ' ~ relation ~ ' where ' ~ live ~ '(' ~ condition ~ ')').columns[0].values()[0] %}
  {% if found > 0 %}
    {% if soft %}
      {% do run_query('update ' ~ relation ~ ' set _sdc_deleted_at = ' ~ dbt.current_timestamp() ~ ' where ' ~ live ~ '(' ~ condition ~ ')') %}
    {% else %}
      {% do run_query('delete from ' ~ relation ~ ' where ' ~ condition) %}
    {% endif %}
  {% endif %}
  {{ log('supersede: ' ~ relation.identifier ~ ': ' ~ found ~ ' row(s) ' ~ ('marked _sdc_deleted_at' if soft else 'deleted'), info=True) }}
  {{ return(found) }}
{% endmacro %}

{% macro supersede_stale_rows() %}
  {% if not execute %}{{ return('select 1') }}{% endif %}
  {% set units = tap_table('cohort_syncs') %}
  {% if units is none %}
    {{ log('supersede: no cohort_syncs table in ' ~ var('source_schema') ~ ': nothing to supersede', info=True) }}
    {{ return('select 1') }}
  {% endif %}
  {% set unit_rows %}
    (select stream as unit_stream, sync_partition as unit_partition, first_date as unit_first,
            last_date as unit_last, synced_at as unit_synced_at, reason as unit_reason
     from {{ units }}) as unit
  {% endset %}
  {% for name in cohort_tables() %}
    {% set relation = tap_table(name) %}
    {% set columns = column_names(relation) %}
    {% if 'sync_partition' in columns %}
      {% set condition %}
        exists (select 1 from {{ unit_rows }}
                where unit_stream = '{{ name }}' and unit_partition = sync_partition
                  and cohort_date between unit_first and unit_last
                  and (synced_at is null or unit_synced_at > synced_at))
      {% endset %}
      {% do supersede_where(relation, columns, condition) %}
    {% endif %}
  {% endfor %}
  {% for braze in braze_lists() %}
    {% set relation = tap_table(braze.list) %}
    {% set columns = column_names(relation) %}
    {% if 'synced_at' in columns %}
      {% set condition %}
        exists (select 1 from {{ unit_rows }}
                where unit_stream = '{{ braze.list }}' and unit_reason = 'list'
                  and (synced_at is null or unit_synced_at > synced_at))
      {% endset %}
      {% do supersede_where(relation, columns, condition) %}
      {% set current %}
        select {{ braze.key }} from {{ relation }}{{ ' where _sdc_deleted_at is null' if '_sdc_deleted_at' in columns }}
      {% endset %}
      {% for child, key in braze.children %}
        {% set child_relation = tap_table(child) %}
        {% set child_columns = column_names(child_relation) %}
        {% if child_relation is not none %}
          {% do supersede_where(child_relation, child_columns, key ~ " <> '(total)' and " ~ key ~ ' not in (' ~ current ~ ')') %}
          {% if '_sdc_deleted_at' in child_columns and child.endswith('_data_series') %}
            {# Only this step marks a series: one whose object is current again (listed again) is current too. #}
            {% do run_query('update ' ~ child_relation ~ ' set _sdc_deleted_at = null where _sdc_deleted_at is not null and ' ~ key ~ ' in (' ~ current ~ ')') %}
          {% endif %}
        {% endif %}
      {% endfor %}
    {% endif %}
  {% endfor %}
  {# run_query opened a transaction (dbt's adapters begin one); end it, in a run-operation and in a hook alike. #}
  {% do run_query('commit') %}
  {{ return('select 1') }}
{% endmacro %}
