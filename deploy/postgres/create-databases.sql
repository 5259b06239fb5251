-- docker-compose: run once by the postgres image on an empty data directory
-- (/docker-entrypoint-initdb.d). One database per service; a service never reads another's.
-- Each service also creates its own database at start if it is missing (DATABASE_ADMIN_URL), so
-- this file only makes the layout explicit and visible before the first service starts.
CREATE DATABASE mci_auth;
CREATE DATABASE mci_catalog;
CREATE DATABASE mci_pricing;
CREATE DATABASE mci_offers;
CREATE DATABASE mci_orders;
CREATE DATABASE mci_bigbuy;
