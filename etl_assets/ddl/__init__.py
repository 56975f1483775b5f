"""DDL layer: CREATE TABLE for six dialects from storage recommendations."""
