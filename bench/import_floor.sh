#!/bin/sh
# Benchmark 1, the database's floor: how fast can 1,000,000 lead rows go into leads_lead at all, with no
# Python, no validation and no dedupe? A bare COPY of the same rows into copies of the table that carry
# different sets of indexes. Whatever an import does on top, it cannot beat the row of its index set.
#
#   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/l2c_floor sh bench/import_floor.sh
#
# Needs a migrated database (l2c migrate) at BENCH_PG_URL; creates and drops its scratch tables there.
set -eu
URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/l2c_floor}
ROWS=${BENCH_ROWS:-1000000}
DATA=/tmp/l2c_import_floor_$ROWS.copy
P="psql $URL -q -v ON_ERROR_STOP=1"
if [ ! -s "$DATA" ]; then
  $P -c "DROP TABLE IF EXISTS bench_floor_src" -c "CREATE UNLOGGED TABLE bench_floor_src (LIKE leads_lead)" -c "
  INSERT INTO bench_floor_src (id, created_at, updated_at, first_name, last_name, title, email, phone, company, website,
    industry, company_size, city, country, source, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
    consent_basis, consent_text, consent_source, status, disqualified_reason, description)
  SELECT g, now(), now(), 'First' || (g % 5000), 'Last' || md5(g::text)::varchar(8), 'Manager',
    'user' || g || '@' || substr(md5((g % 20000)::text), 1, 8) || '.example.com', '+8613' || lpad(g::text, 9, '0'),
    'Company ' || substr(md5((g % 100000)::text), 1, 10) || ' Ltd', '', '', '', '', 'CN', 'import', '', '', '', '',
    '', '', '', '', 'new', '', ''
  FROM generate_series(1, $ROWS) g" -c "\\copy bench_floor_src to '$DATA'" -c "DROP TABLE bench_floor_src"
fi
MINIMAL="ALTER TABLE t ADD PRIMARY KEY (id); CREATE INDEX ON t (lower(email)); CREATE INDEX ON t (phone);
  CREATE INDEX ON t (campaign_id); CREATE INDEX ON t (status, company, id) INCLUDE (owner_id, merged_into_id);
  CREATE INDEX ON t (status, last_name, first_name, id) INCLUDE (owner_id, merged_into_id);
  CREATE INDEX ON t (created_at DESC NULLS LAST, id DESC) INCLUDE (owner_id, status, merged_into_id);
  CREATE INDEX ON t (owner_id, status, created_at DESC NULLS LAST, id DESC);"
run() {
  $P -c "DROP TABLE IF EXISTS t" -c "$2"
  start=$(date +%s.%N)
  $P -c "\\copy t from '$DATA'"
  end=$(date +%s.%N)
  $P -c "DROP TABLE t"
  echo "| $1 | $(echo "$end - $start" | bc) | $(echo "$ROWS / ($end - $start)" | bc) |"
}
echo "| leads_lead copy with | seconds | rows/s |"
echo "|---|---:|---:|"
run "no index at all" "CREATE TABLE t (LIKE leads_lead)"
run "the 8 b-tree indexes the lists and dedupe need" "CREATE TABLE t (LIKE leads_lead INCLUDING DEFAULTS); $MINIMAL"
run "those 8 + one trigram index over name, e-mail, company, phone" "CREATE TABLE t (LIKE leads_lead INCLUDING DEFAULTS); $MINIMAL
  CREATE INDEX ON t USING gin (upper(first_name || ' ' || last_name || ' ' || email || ' ' || company || ' ' || phone) gin_trgm_ops);"
run "all 30 indexes of leads_lead today" "CREATE TABLE t (LIKE leads_lead INCLUDING ALL)"
