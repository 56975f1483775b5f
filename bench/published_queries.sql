-- The published workloads of the bench's datasets, as a query log (bench/advice.py --query-log): the queries of
-- ClickHouse's documentation pages of each example dataset (on the columns and years the generated shapes have)
-- and TPC-H's Q1, Q3, Q6, Q12 and Q14 (specification, clause 2.4; substitution parameters of its validation run).
-- Standard SQL (read as PostgreSQL, transpiled by sqlglot for ClickHouse).

-- OnTime: https://clickhouse.com/docs/getting-started/example-datasets/ontime (Q0, Q3, Q4, Q6, Q8, Q9, Q10)
SELECT avg(c1) FROM (SELECT "Year", "Month", count(*) AS c1 FROM ontime GROUP BY "Year", "Month") AS t;
SELECT "Origin", count(*) AS c FROM ontime WHERE "DepDelay" > 10 AND "Year" >= 2019 AND "Year" <= 2020
GROUP BY "Origin" ORDER BY c DESC LIMIT 10;
SELECT "IATA_CODE_Reporting_Airline" AS carrier, count(*) AS c FROM ontime WHERE "DepDelay" > 10 AND "Year" = 2019
GROUP BY carrier ORDER BY c DESC;
SELECT "IATA_CODE_Reporting_Airline" AS carrier, avg(CASE WHEN "DepDelay" > 10 THEN 1 ELSE 0 END) * 100 AS c3
FROM ontime WHERE "Year" = 2019 GROUP BY carrier ORDER BY c3 DESC;
SELECT "Year", avg(CASE WHEN "DepDelay" > 10 THEN 1 ELSE 0 END) * 100 AS c3 FROM ontime GROUP BY "Year" ORDER BY "Year";
SELECT "DestCityName", count(DISTINCT "OriginCityName") AS u FROM ontime WHERE "Year" >= 2019 AND "Year" <= 2020
GROUP BY "DestCityName" ORDER BY u DESC LIMIT 10;
SELECT "Year", count(*) AS c1 FROM ontime GROUP BY "Year";

-- UK price paid: https://clickhouse.com/docs/getting-started/example-datasets/uk-price-paid ('TOWN 0' is the
-- generated shape's most frequent town, as London is the dataset's)
SELECT EXTRACT(YEAR FROM date) AS year, round(avg(price)) AS price FROM uk_price_paid GROUP BY year ORDER BY year;
SELECT EXTRACT(YEAR FROM date) AS year, round(avg(price)) AS price FROM uk_price_paid WHERE town = 'TOWN 0'
GROUP BY year ORDER BY year;
SELECT town, district, count(*) AS c, round(avg(price)) AS price FROM uk_price_paid WHERE date >= '2020-01-01'
GROUP BY town, district HAVING count(*) >= 100 ORDER BY price DESC LIMIT 100;

-- NYC taxi: https://clickhouse.com/docs/getting-started/example-datasets/nyc-taxi
SELECT round(avg(tip_amount), 2) FROM trips;
SELECT passenger_count, ceil(avg(total_amount)) AS average_total_amount FROM trips GROUP BY passenger_count;
SELECT CAST(pickup_datetime AS DATE) AS pickup_date, pickup_ntaname, sum(1) AS number_of_trips FROM trips
GROUP BY pickup_date, pickup_ntaname ORDER BY pickup_date;
SELECT pickup_ntaname, EXTRACT(HOUR FROM pickup_datetime) AS pickup_hour, sum(1) AS pickups FROM trips
WHERE pickup_ntaname <> '' GROUP BY pickup_ntaname, pickup_hour ORDER BY pickup_ntaname, pickup_hour;

-- TPC-H Q1
SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, sum(l_extendedprice) AS sum_base_price,
       sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
       sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, avg(l_quantity) AS avg_qty,
       avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, count(*) AS count_order
FROM lineitem WHERE l_shipdate <= DATE '1998-09-02'
GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus;
-- TPC-H Q3
SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority
FROM customer JOIN orders ON c_custkey = o_custkey JOIN lineitem ON l_orderkey = o_orderkey
WHERE c_mktsegment = 'BUILDING' AND o_orderdate < DATE '1995-03-15' AND l_shipdate > DATE '1995-03-15'
GROUP BY l_orderkey, o_orderdate, o_shippriority ORDER BY revenue DESC, o_orderdate LIMIT 10;
-- TPC-H Q6
SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01' AND l_discount BETWEEN 0.05 AND 0.07
  AND l_quantity < 24;
-- TPC-H Q12
SELECT l_shipmode,
       sum(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH' THEN 1 ELSE 0 END) AS high_line_count,
       sum(CASE WHEN o_orderpriority <> '1-URGENT' AND o_orderpriority <> '2-HIGH' THEN 1 ELSE 0 END) AS low_line_count
FROM orders JOIN lineitem ON o_orderkey = l_orderkey
WHERE l_shipmode IN ('MAIL', 'SHIP') AND l_commitdate < l_receiptdate AND l_shipdate < l_commitdate
  AND l_receiptdate >= DATE '1994-01-01' AND l_receiptdate < DATE '1995-01-01'
GROUP BY l_shipmode ORDER BY l_shipmode;
-- TPC-H Q14
SELECT 100.00 * sum(CASE WHEN p_type LIKE 'PROMO%' THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
       / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
FROM lineitem JOIN part ON l_partkey = p_partkey
WHERE l_shipdate >= DATE '1995-09-01' AND l_shipdate < DATE '1995-10-01';
