//! The foodtrace query API over HTTP.
