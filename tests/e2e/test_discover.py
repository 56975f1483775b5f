"""`aietl discover` on the embedded default finds every sample table, as config/catalog.json records them."""

from etl_assets.catalog import load_catalog
from etl_assets.demo import embedded_stack, load_sample
from etl_assets.discovery import discover_sources
from etl_assets.paths import CATALOG_FILE
from resources.embedded.kafka import free_port


def test_discovery_of_the_sample_matches_the_committed_catalog(tmp_path, monkeypatch):
    monkeypatch.setenv("AIETL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIETL_PG_PORT", str(free_port()))
    monkeypatch.setenv("AIETL_KAFKA_PORT", str(free_port()))
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text('{"version": 1, "sources": {"gone": []}}')
    with embedded_stack() as stack:
        load_sample(stack)
        discovered, problems = discover_sources(catalog_file=catalog_file)
    assert problems == []
    assert "gone" not in discovered, "a source no longer configured stays in the catalog"

    def shape(catalog):
        return {source: {t.name: [(c.name, c.logical_type) for c in t.columns] for t in tables}
                for source, tables in catalog.items()}

    assert shape(load_catalog(catalog_file)) == shape(load_catalog(CATALOG_FILE))
