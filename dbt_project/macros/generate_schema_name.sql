{#- A model's +schema is its schema as written (staging, marts), not "<target schema>_<schema>":
    the same names on PostgreSQL (schemas) and ClickHouse (databases). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{- (custom_schema_name or target.schema) | trim -}}
{%- endmacro %}
