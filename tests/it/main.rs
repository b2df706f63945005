mod store_suite;
