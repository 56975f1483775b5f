"""Regenerate the bundled sample files (deterministic). Run: python data/sample/generate.py"""

import csv
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).parent
FIRST = ["Anna", "Boris", "Chen", "Dana", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Liam"]
LAST = ["Ivanova", "Smith", "Nakamura", "Garcia", "Okafor", "Müller", "Rossi", "Kowalski", "Dubois", "Silva"]
CITIES = ["Berlin", "Lisbon", "Warsaw", "Madrid", "Paris", "Rome", "Vienna", "Prague"]
CATEGORIES = {
    "kitchen": ["Cast iron skillet", "Chef knife", "Bamboo cutting board", "Pour-over coffee kettle"],
    "outdoor": ["Trail running shoes", "Down sleeping bag", "Ultralight tent", "Insulated water bottle"],
    "office": ["Mechanical keyboard", "Ergonomic chair", "Standing desk", "Noise cancelling headphones"],
    "garden": ["Pruning shears", "Raised garden bed", "Drip irrigation kit", "Compost bin"],
}
DESCRIPTIONS = {
    "kitchen": "for cooking at home, easy to clean and built to last",
    "outdoor": "for hiking and camping in wet and cold weather",
    "office": "for long working days at the desk, reduces strain",
    "garden": "for growing vegetables and flowers on a small plot",
}


def customers(rng: random.Random) -> None:
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with open(HERE / "files" / "customers.csv", "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["customer_id", "first_name", "last_name", "email", "phone", "city", "signup_at", "is_vip"])
        for customer_id in range(1, 301):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first.lower()}.{last.lower().replace('ü', 'ue')}{customer_id}@example.com"
            phone = f"+49 30 {rng.randint(1000000, 9999999)}" if rng.random() > 0.1 else ""
            signup = start + timedelta(minutes=rng.randint(0, 60 * 24 * 600))
            writer.writerow([customer_id, first, last, email, phone, rng.choice(CITIES),
                             signup.isoformat(), rng.random() < 0.08])


def products(rng: random.Random) -> None:
    rows, product_id = [], 1
    for category, names in CATEGORIES.items():
        for name in names:
            for edition in ("Classic", "Pro", "Lite"):
                rows.append({
                    "product_id": product_id, "sku": f"{category[:3].upper()}-{product_id:04d}",
                    "name": f"{name} {edition}", "category": category,
                    "description": f"{edition} {name.lower()} {DESCRIPTIONS[category]}.",
                    "price": round(rng.uniform(9, 400), 2), "tags": [category, edition.lower()],
                    "in_stock": rng.random() > 0.15,
                })
                product_id += 1
    (HERE / "files" / "products.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")


def stores(rng: random.Random) -> None:
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<stores>"]
    for store_id, city in enumerate(CITIES, start=1):
        opened = datetime(2018, 1, 1) + timedelta(days=rng.randint(0, 2000))
        lines.append(
            f'  <store id="{store_id}"><name>{escape(city)} Central</name><city>{escape(city)}</city>'
            f"<opened>{opened.date().isoformat()}</opened><area_m2>{rng.randint(80, 900)}</area_m2></store>"
        )
    lines.append("</stores>")
    (HERE / "files" / "stores.xml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def clicks(rng: random.Random) -> None:
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with open(HERE / "clicks.ndjson", "w", encoding="utf-8") as out:
        for event_id in range(1, 2001):
            event = {
                "event_id": event_id, "customer_id": rng.randint(1, 300), "product_id": rng.randint(1, 48),
                "event_type": rng.choices(["view", "add_to_cart", "purchase"], weights=[80, 15, 5])[0],
                "ts": (start + timedelta(seconds=event_id * 37 + rng.randint(0, 30))).isoformat(),
            }
            out.write(json.dumps(event) + "\n")


if __name__ == "__main__":
    for make in (customers, products, stores, clicks):
        make(random.Random(42))
