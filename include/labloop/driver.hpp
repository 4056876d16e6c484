#pragma once
// The driver SDK, for instrument authors: everything needed to write a driver and serve it over
// protocol v1. Link labloop::driver (no linear algebra, optimizer or crypto libraries come with it).
#include "labloop/wire/driver.hpp"  // IWYU pragma: export
