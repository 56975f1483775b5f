"""Reports: analysis, quality and pipeline performance in HTML, Markdown, JSON and PDF."""
