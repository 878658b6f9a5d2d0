-- Sample data for compose.yaml's source cluster: two application databases, a role with a
-- password, mixed-case names, awkward text, bytea and jsonb. Runs once, on the first start.
CREATE ROLE app_user LOGIN PASSWORD 'app-user-local-only';
CREATE DATABASE shop OWNER app_user;
CREATE DATABASE wiki OWNER app_user;

\connect shop
CREATE SCHEMA "Sales" AUTHORIZATION app_user;
CREATE TABLE "Sales"."Orders" (
  id bigserial PRIMARY KEY,
  customer text NOT NULL,
  note text,
  payload jsonb,
  receipt bytea
);
INSERT INTO "Sales"."Orders" (customer, note, payload, receipt)
SELECT 'customer ' || g,
       E'tab\there, newline\nthere, backslash \\ done',
       jsonb_build_object('n', g, 'tags', jsonb_build_array('a', 'b')),
       decode(md5(g::text), 'hex')
FROM generate_series(1, 1000) AS g;

\connect wiki
CREATE TABLE pages (id serial PRIMARY KEY, title text UNIQUE, body text);
INSERT INTO pages (title, body)
SELECT 'page ' || g, repeat('lorem ipsum ', g % 50) FROM generate_series(1, 500) AS g;
