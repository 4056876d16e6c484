#pragma once
// The whole controller, for programs that embed it (link labloop::labloop). Components and their
// dependency rules: docs/architecture.md.
#include "labloop/campaign/campaign.hpp"         // IWYU pragma: export
#include "labloop/campaign/campaign_config.hpp"  // IWYU pragma: export
#include "labloop/campaign/replay.hpp"           // IWYU pragma: export
#include "labloop/core/error.hpp"                // IWYU pragma: export
#include "labloop/core/version.hpp"              // IWYU pragma: export
#include "labloop/journal/audit.hpp"             // IWYU pragma: export
#include "labloop/journal/journal.hpp"           // IWYU pragma: export
#include "labloop/journal/report.hpp"            // IWYU pragma: export
#include "labloop/model/planner.hpp"             // IWYU pragma: export
#include "labloop/model/space.hpp"               // IWYU pragma: export
#include "labloop/wire/driver.hpp"               // IWYU pragma: export
#include "labloop/wire/instrument.hpp"           // IWYU pragma: export
#include "labloop/wire/protocol.hpp"             // IWYU pragma: export
