// Catch2's main lives alone in this file so test files compile independently of it.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
