"""Transformations: pipelines.yaml -> validated spec -> dbt models (sqlglot SQL per dialect), pandas and PySpark code."""
