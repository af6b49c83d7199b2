//! foodtrace: the command line for inspectors, producers and markets.
