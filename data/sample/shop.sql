-- The sample source database "shop": orders and their lines, generated deterministically.
-- Loaded by `aietl demo` into the embedded PostgreSQL; idempotent (drops and recreates).
SELECT setseed(0.42);
DROP TABLE IF EXISTS order_items;
DROP TABLE IF EXISTS orders;
CREATE TABLE orders (
    order_id    bigint PRIMARY KEY,
    customer_id integer NOT NULL,
    store_id    integer NOT NULL,
    status      text NOT NULL,
    total       numeric(12, 2) NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE TABLE order_items (
    order_id   bigint NOT NULL REFERENCES orders (order_id),
    line_no    smallint NOT NULL,
    product_id integer NOT NULL,
    quantity   integer NOT NULL,
    unit_price numeric(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);
INSERT INTO orders
SELECT n,
       1 + floor(random() * 300)::int,
       1 + floor(random() * 8)::int,
       (ARRAY['placed', 'paid', 'shipped', 'delivered', 'returned'])[1 + floor(random() * 5)::int],
       0,
       timestamptz '2026-01-01 00:00:00+00' + n * interval '97 minutes',
       timestamptz '2026-01-01 00:00:00+00' + n * interval '97 minutes' + floor(random() * 3000) * interval '1 minute'
FROM generate_series(1, 3000) AS n;
INSERT INTO order_items
SELECT o.order_id, l.line_no, 1 + floor(random() * 48)::int, 1 + floor(random() * 4)::int,
       round((9 + random() * 390)::numeric, 2)
FROM orders o CROSS JOIN LATERAL generate_series(1, 1 + (o.order_id % 4)::int) AS l(line_no);
UPDATE orders o SET total = s.total
FROM (SELECT order_id, sum(quantity * unit_price) AS total FROM order_items GROUP BY order_id) s
WHERE s.order_id = o.order_id;
CREATE INDEX orders_updated_at ON orders (updated_at);
