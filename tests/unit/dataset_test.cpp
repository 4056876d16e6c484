// The datasets behind simulated instruments (simulators/data): every shipped folder loads and
// agrees with its spec; lookup tables answer with the CSV's values; damaged folders get messages.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <map>
#include <thread>

#include "catalogue.hpp"
#include "dataset.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/descriptors.hpp"
#include "lookup_table.hpp"
#include "simulated_instrument.hpp"
#include "test_support.hpp"

using namespace labloop;
using nlohmann::json;

namespace {

const std::filesystem::path kShippedData = LABLOOP_SOURCE_DIR "/simulators/data";

// A small dataset folder in `dir`: two categorical parameters and one continuous objective, with a
// replicate of (a, 1); `csv` and `spec` replace the defaults to break one thing at a time.
std::filesystem::path small_dataset(const test::TempDir& dir, const std::string& csv, json spec = {}) {
  if (spec.is_null())
    spec = json{{"title", "small"},
                {"rows", 4},
                {"lookup_table", true},
                {"parameter_constraint", "none"},
                {"parameters", {{{"name", "solvent"}, {"type", "categorical"}, {"options", {"a", "b,c"}}},
                                {{"name", "temperature"}, {"type", "discrete"}, {"options", {1, 2.5}}}}},
                {"objectives", {{{"name", "yield"}, {"goal", "maximize"}, {"type", "continuous"}}}}};
  const auto folder = dir / "small";
  std::filesystem::create_directories(folder);
  test::write_file(folder / "spec.json", spec.dump());
  test::write_file(folder / "data.csv", csv);
  return folder;
}

// The spec of kSmallCsv, as a person writes it (small_dataset's default adds a title and constraint).
json small_spec() {
  return json::parse(R"({"rows": 4, "lookup_table": true,
      "parameters": [{"name": "solvent", "type": "categorical", "options": ["a", "b,c"]},
                     {"name": "temperature", "type": "discrete", "options": [1, 2.5]}],
      "objectives": [{"name": "yield", "goal": "maximize"}]})");
}

const std::string kSmallCsv = "solvent,temperature,yield\na,1,10\n\"b,c\",1,20\na,2.5,30\na,1.0,11\n";


}  // namespace

TEST_CASE("Datasets: every shipped dataset loads, and agrees with its spec.json", "[datasets]") {
  const auto names = sim::dataset_names(kShippedData);
  CHECK(names.size() == 46);
  int lookup_tables = 0;
  for (const std::string& name : names) {
    INFO(name);
    const sim::Dataset data = sim::read_dataset(kShippedData / name);
    const json spec = json::parse(test::read_file(kShippedData / name / "spec.json"));
    CHECK(data.spec.name == name);
    CHECK(data.rows.size() == spec["rows"].get<std::size_t>());
    REQUIRE(data.spec.parameters.size() == spec["parameters"].size());
    for (std::size_t i = 0; i < data.spec.parameters.size(); ++i) {
      const Parameter& p = data.spec.parameters[i];
      const json& s = spec["parameters"][i];
      CHECK(p.name == s["name"]);
      if (s["type"] == "continuous") {
        CHECK(p.type == ParameterType::continuous);
        CHECK(p.low == s["low"].get<double>());
        CHECK(p.high == s["high"].get<double>());
      } else if (s["type"] == "discrete") {
        CHECK(p.type == ParameterType::discrete);
        CHECK(p.values.size() == s["options"].size());
        CHECK(std::is_sorted(p.values.begin(), p.values.end()));
      } else {
        CHECK(p.type == ParameterType::categorical);
        CHECK(p.choices.size() == s["options"].size());
      }
    }
    REQUIRE(data.spec.objectives.size() == spec["objectives"].size());
    for (std::size_t j = 0; j < data.spec.objectives.size(); ++j) {
      CHECK(data.spec.objectives[j].name == spec["objectives"][j]["name"]);
      CHECK(data.spec.objectives[j].maximize == (spec["objectives"][j]["goal"] == "maximize"));
    }
    CHECK(data.spec.lookup_table == spec["lookup_table"].get<bool>());
    CHECK(data.spec.constraint == spec["parameter_constraint"]);
    lookup_tables += data.spec.lookup_table;
  }
  CHECK(lookup_tables == 12);
}

TEST_CASE("Datasets: every shipped descriptors.csv describes some parameter's choices with values that vary", "[datasets][descriptors]") {
  // What a campaign on the dataset adopts (adopt_descriptors): a file that describes no parameter
  // completely, or only with equal values, would silently leave the model one-hot.
  std::map<std::string, int> described;  // dataset → parameters whose features vary
  for (const std::string& name : sim::dataset_names(kShippedData)) {
    const auto file = kShippedData / name / "descriptors.csv";
    if (!std::filesystem::exists(file)) continue;
    INFO(name);
    std::vector<Parameter> parameters = sim::read_dataset(kShippedData / name).spec.parameters;
    CHECK(adopt_descriptors(parameters, file).empty());  // no parameter's rows damaged
    int varying = 0;
    for (const Parameter& p : parameters)
      if (!p.descriptor_values.empty()) varying += descriptor_features(p.descriptor_values).cols() > 0;
    described[name] = varying;
  }
  // perovskites' file, as Olympus ships it, gives every option of a parameter the same values
  // (its README): adopted, but nothing for the model.
  const std::map<std::string, int> expected{{"buchwald_a", 4}, {"buchwald_b", 4}, {"buchwald_c", 4}, {"buchwald_d", 4},
                                            {"buchwald_e", 4}, {"edbo_direct_arylation", 3}, {"lnp3", 4}, {"mmli_opv", 2},
                                            {"perovskites", 0}, {"redoxmers", 4}, {"suzuki_edbo", 5}, {"vapdiff_crystal", 2}};
  CHECK(described == expected);
}

TEST_CASE("Datasets: each lookup table answers with the CSV's values, for options as text and as numbers", "[datasets]") {
  for (const std::string& name : sim::dataset_names(kShippedData)) {
    if (!sim::read_dataset_spec(kShippedData / name).lookup_table) continue;
    INFO(name);
    sim::Dataset data = sim::read_dataset(kShippedData / name);
    const std::vector<CsvRow> rows = data.rows;
    const sim::DatasetSpec spec = data.spec;
    const sim::LookupTable table(std::move(data));
    // The mean per combination, summed in row order as the table does, so equal to the last bit.
    std::map<std::vector<std::string>, std::pair<std::vector<double>, int>> expected;
    const std::size_t np = spec.parameters.size();
    for (const CsvRow& row : rows) {
      auto& [sum, count] = expected[std::vector<std::string>(row.fields.begin(), row.fields.begin() + static_cast<long>(np))];
      sum.resize(spec.objectives.size());
      for (std::size_t j = 0; j < spec.objectives.size(); ++j) sum[j] += std::stod(row.fields[np + j]);
      ++count;
    }
    CHECK(table.combinations() == expected.size());
    // About 25 rows of each table, spread over it.
    for (std::size_t r = 0; r < rows.size(); r += std::max<std::size_t>(1, rows.size() / 25)) {
      Params params = json::object();
      Params numeric = json::object();
      for (std::size_t i = 0; i < np; ++i) {
        params[spec.parameters[i].name] = rows[r].fields[i];
        const auto number = parse_number(rows[r].fields[i]);
        numeric[spec.parameters[i].name] = number ? json(*number) : json(rows[r].fields[i]);
      }
      auto [sum, count] = expected.at(std::vector<std::string>(rows[r].fields.begin(), rows[r].fields.begin() + static_cast<long>(np)));
      for (double& v : sum) v /= count;
      CHECK(table.values(params) == sum);
      CHECK(table.values(numeric) == sum);
    }
  }
}

TEST_CASE("Datasets: a lookup table whose rows its spec does not allow is unavailable to a campaign file", "[datasets]") {
  test::TempDir dir;
  // The rows hold solvent "d", which spec.json does not list: labloop-sim --list calls it unusable
  // and its simulator exits at start, so `labloop new` and `validate` must refuse it too.
  const SimulatorSpec broken = sim::dataset_simulator(small_dataset(dir, "solvent,temperature,yield\na,1,10\nd,1,20\na,2.5,30\na,1.0,11\n"));
  REQUIRE(broken.unavailable);
  CHECK_THAT(broken.unavailable(), Catch::Contains("line 3: solvent = \"d\" is not among its options in spec.json"));
  test::TempDir other;
  const SimulatorSpec fine = sim::dataset_simulator(small_dataset(other, kSmallCsv));
  CHECK(fine.unavailable().empty());
}

TEST_CASE("Datasets: replicates are averaged, numbers match by value, and a missing combination is named", "[datasets]") {
  test::TempDir dir;
  const sim::LookupTable table(sim::read_dataset(small_dataset(dir, kSmallCsv)));
  CHECK(table.combinations() == 3);
  CHECK(table.values({{"solvent", "a"}, {"temperature", "1"}}) == std::vector<double>{10.5});
  CHECK(table.values({{"solvent", "a"}, {"temperature", 1}}) == std::vector<double>{10.5});
  CHECK(table.values({{"solvent", "a"}, {"temperature", "1.0"}}) == std::vector<double>{10.5});
  CHECK(table.values({{"solvent", "b,c"}, {"temperature", 1.0}}) == std::vector<double>{20});
  CHECK(table.values({{"solvent", "a"}, {"temperature", 2.5}}) == std::vector<double>{30});
  CHECK_FALSE(table.find({{"solvent", "b,c"}, {"temperature", 2.5}}));
  CHECK(test::message_of([&] { table.values({{"solvent", "b,c"}, {"temperature", 2.5}}); }) ==
        "small has no measurement for solvent = b,c, temperature = 2.5 (the dataset does not hold every combination); "
        "leave this combination out or choose another");
  CHECK(test::message_of([&] { table.values({{"solvent", "d"}, {"temperature", 1}}); }) == "small: solvent = \"d\" is not among its options (a, b,c)");
  CHECK(test::message_of([&] { table.values({{"solvent", "a"}}); }) == "small: parameter \"temperature\" is missing");
}

TEST_CASE("Datasets: replicates near the largest double average to a finite mean, not inf", "[datasets]") {
  test::TempDir dir;
  // Summed first, two rows of 1.5e308 gave inf (a failed experiment, inf in bench's pool); 1e308 and −1e308 overflow a difference.
  const sim::LookupTable table(sim::read_dataset(small_dataset(dir, "solvent,temperature,yield\na,1,1.5e308\na,1.0,1.5e308\n\"b,c\",1,1e308\n"
                                                                    "\"b,c\",1,-1e308\n")));
  CHECK(table.values({{"solvent", "a"}, {"temperature", 1}}) == std::vector<double>{1.5e308});
  CHECK(table.values({{"solvent", "b,c"}, {"temperature", 1}}) == std::vector<double>{0});
}

TEST_CASE("Datasets: a damaged data.csv is refused naming the file, the line and the problem", "[datasets]") {
  test::TempDir dir;
  const std::string csv = (dir / "small" / "data.csv").string();
  auto problem = [&](const std::string& text) { return test::message_of([&] { sim::read_dataset(small_dataset(dir, text)); }); };
  CHECK(problem("solvent,temperature,yield\na,1,10\nb,1\na,2.5,30\na,1,11\n") == csv + ": line 3 has 2 fields, the header 3");
  CHECK(problem("solvent,temperature,yield\na,1,10\nd,1,20\na,2.5,30\na,1,11\n") ==
        csv + ": line 3: solvent = \"d\" is not among its options in spec.json (a, b,c)");
  CHECK(problem("solvent,temperature,yield\na,1,10\na,3,20\na,2.5,30\na,1,11\n") ==
        csv + ": line 3: temperature = \"3\" is not among its options in spec.json (1, 2.5)");
  CHECK(problem("solvent,temperature,yield\na,1,10\na,1,ten\na,2.5,30\na,1,11\n") == csv + ": line 3: yield = \"ten\" is not a number");
  CHECK(problem("solvent,temperature,yield\na,1,10\n") == csv + ": 1 rows, but spec.json says \"rows\": 4 (a truncated or edited file?)");
  CHECK(problem("solvent,yield,temperature\na,1,10\n") ==
        csv + ": line 1: the header is \"solvent,yield,temperature\", but spec.json's parameters and objectives are "
              "\"solvent,temperature,yield\" (in this order)");
  CHECK(problem("solvent,temperature,yield\n\"a,1,10\n") == csv + ": line 2: a quoted field is not closed");
  CHECK(problem("solvent,temperature,yield\n" + std::string(5000, 'a') + ",1,10\n") ==
        csv + ": line 2, field 1: 5000 bytes long; at most 4096 are allowed");
  CHECK(problem("") == csv + ": empty file (it needs a header line)");
}

TEST_CASE("CSV: a quoted field may hold line breaks (RFC 4180), and carriage returns alone are named, not read as one line", "[datasets][csv]") {
  test::TempDir dir;
  const auto file = dir / "r.csv";
  // As labloop's results.csv quotes a driver's two-line error; the row keeps its first line's number.
  test::write_file(file, "experiment,y,error\r\ne1,,\"jam\r\nat valve 2\"\r\ne2,3.5,\r\n");
  const CsvTable table = read_csv_table(file, {});
  REQUIRE(table.rows.size() == 2);
  CHECK(table.rows[0].fields[2] == "jam\nat valve 2");
  CHECK(table.rows[1].line == 4);
  CHECK(table.rows[1].fields[1] == "3.5");
  test::write_file(file, "a,b\n\"x\"\"y\",2\n\"p,\n\"\"q\"\"\",3\n");  // "" is a quote inside a quoted field
  const CsvTable quoted = read_csv_table(file, {});
  REQUIRE(quoted.rows.size() == 2);
  CHECK(quoted.rows[0].fields[0] == "x\"y");
  CHECK(quoted.rows[1].fields[0] == "p,\n\"q\"");
  test::write_file(file, "x1,x2\r1,2\r3,4\r");
  CHECK(test::message_of([&] { read_csv_table(file, {}); }) ==
        file.string() + ": its lines end in carriage returns alone (an old Mac format), so it reads as one line: save it with LF or CRLF line endings");
}

TEST_CASE("Datasets: the CSV reader refuses a file over its size, row or column limit before filling the memory", "[datasets]") {
  test::TempDir dir;
  const auto file = dir / "t.csv";
  test::write_file(file, "a,b\n1,2\n3,4\n");
  CHECK(test::message_of([&] { read_csv_table(file, {.max_bytes = 11}); }) == file.string() + ": larger than 11 bytes; split the file");
  CHECK(test::message_of([&] { read_csv_table(file, {.max_rows = 1}); }) == file.string() + ": more than 1 rows; split the file");
  CHECK(test::message_of([&] { read_csv_table(file, {.max_columns = 1}); }) == file.string() + ": line 1 has 2 fields; at most 1 columns are allowed");
  CHECK(read_csv_table(file, {.max_bytes = 12}).rows.size() == 2);
  // A line without end (a candidates or prior-results path to a device or a pipe) is refused at the
  // limit, not read into memory for ever; the last line may lack its '\n'.
  CHECK(test::message_of([&] { read_csv_table("/dev/zero", {.max_bytes = 1 << 20, .max_field_chars = 1 << 20}); }) ==
        "/dev/zero: larger than 1 MiB; split the file");
  // A cell longer than its limit is refused once that many bytes come without a comma, however
  // far the file's limit is (a 250 MiB cell within a 256 MiB file took 1 GB before its refusal),
  // quoted or not, on the header line or in a quoted field's later lines.
  CHECK(test::message_of([&] { read_csv_table("/dev/zero", {.max_bytes = 1 << 30}); }) ==
        "/dev/zero: line 1 holds a value of more than 65536 bytes; at most 65536 are allowed");
  test::write_file(file, "a,b\n1,\"" + std::string(30, 'x') + "\"\n");
  CHECK(read_csv_table(file, {.max_field_chars = 30}).rows.size() == 1);  // its quotes are no part of it
  test::write_file(file, "a,b\n1,\"x\n" + std::string(70, 'x') + "\"\n");
  CHECK(test::message_of([&] { read_csv_table(file, {.max_field_chars = 30}); }) ==
        file.string() + ": line 3 holds a value of more than 30 bytes; at most 30 are allowed");
  // Cells become JSON text, whose writer threw on bytes that are not UTF-8 (an internal error, exit 1).
  test::write_file(file, "s,y\nTHF,1\nDM\xe9" "F,2\n");
  CHECK(test::message_of([&] { read_csv_table(file, {}); }) ==
        file.string() + ": line 3 holds bytes that are not UTF-8 (a spreadsheet's other encoding?): save the file as UTF-8 text");
  test::write_file(file, "s,y\nDMF \xc3\xa9\xe2\x82\xac,2\n");  // é and € are UTF-8
  CHECK(read_csv_table(file, {}).rows.size() == 1);
  {  // A pipe nobody writes to (a prior-results or dataset path): the open waited for a writer for ever.
    const auto fifo = file.parent_path() / "pipe.csv";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    CHECK(test::message_of([&] { read_csv_table(fifo, {}); }) == fifo.string() + ": a pipe nothing was written to; name the CSV file itself");
  }
  test::write_file(file, "a,b\n1,2");  // (candidates refuse a device before reading: candidates_campaign_test)
  CHECK(read_csv_table(file, {}).rows.size() == 1);
  // A SMILES string holds commas and brackets; quoted, it is one field.
  test::write_file(file, "smiles,y\n\"CC(C)=O.[K+],x\",2\n");
  CHECK(read_csv_table(file, {}).rows.at(0).fields == std::vector<std::string>{"CC(C)=O.[K+],x", "2"});
}

TEST_CASE("Datasets: a damaged spec.json is refused naming the file, the JSON path and the problem", "[datasets]") {
  test::TempDir dir;
  const std::string spec_path = (dir / "small" / "spec.json").string();
  const json good = small_spec();
  auto problem = [&](const json& spec) { return test::message_of([&] { sim::read_dataset(small_dataset(dir, kSmallCsv, spec)); }); };
  CHECK(problem(good).empty());
  json bad = good;
  bad["parameters"][1]["type"] = "ordinal";
  CHECK(problem(bad) == spec_path + ": /parameters/1/type: must be \"continuous\", \"categorical\" or \"discrete\" (got \"ordinal\")");
  bad = good;
  bad["parameters"][1]["options"][1] = "two";
  CHECK(problem(bad) == spec_path + ": /parameters/1/options/1: must be a number, got \"two\" (a string)");
  bad = good;
  bad["parameters"][0]["options"][1] = "a";
  CHECK(problem(bad) == spec_path + ": /parameters/0/options/1: duplicate option \"a\"");
  bad = good;
  bad["objectives"][0]["goal"] = "up";
  CHECK(problem(bad) == spec_path + ": /objectives/0/goal: must be \"maximize\" or \"minimize\" (got \"up\")");
  bad = good;
  bad["parameters"][0] = {{"name", "solvent"}, {"type", "continuous"}, {"low", 1}, {"high", 0}};
  CHECK(problem(bad) == spec_path + ": /parameters/0/high: is 0, which must be greater than low (1)");
  bad = good;
  bad["parameters"][0]["name"] = "sol vent";
  CHECK(problem(bad) == spec_path + ": /parameters/0/name: parameter name \"sol vent\" may only contain letters, digits, '_', '-' and '.'");
  bad = good;
  bad.erase("rows");
  CHECK(problem(bad) == spec_path + ": /: missing required key \"rows\"");

  // Not JSON, too deep, too large: messages, not crashes.
  const auto folder = small_dataset(dir, kSmallCsv, good);
  test::write_file(folder / "spec.json", "{\"rows\": ");
  CHECK(test::message_of([&] { sim::read_dataset_spec(folder); }) ==
        spec_path + ": /: not valid JSON at line 1, column 10: the text ends before the JSON does (an empty file, a missing } or ], or a "
                    "string without its closing quote)");
  // A key given twice: JSON keeps the last, and "rows": 208, "rows": 207 was read as 207 without a word.
  std::string twice = good.dump();
  twice.insert(1, "\"rows\":208,");
  test::write_file(folder / "spec.json", twice);
  CHECK(test::message_of([&] { sim::read_dataset_spec(folder); }) ==
        spec_path + ": /rows: is given twice in one object; JSON keeps only the last, so remove one of them");
  test::write_file(folder / "spec.json", std::string(100000, '[') + std::string(100000, ']'));
  CHECK(test::message_of([&] { sim::read_dataset_spec(folder); }) == spec_path + ": /: nests arrays and objects deeper than 16 levels (at byte 16)");
  test::write_file(folder / "spec.json", std::string(sim::kMaxSpecBytes + 1, ' '));
  CHECK(test::message_of([&] { sim::read_dataset_spec(folder); }) == spec_path + ": 1048577 bytes; a spec may hold at most 1048576");
  std::filesystem::remove(folder / "spec.json");
  CHECK(test::message_of([&] { sim::read_dataset_spec(folder); }).find(spec_path + ": cannot read: ") == 0);
}

TEST_CASE("Datasets: a discrete parameter's levels get the campaign file's checks, named at spec.json's path", "[datasets]") {
  test::TempDir dir;
  const std::string spec_path = (dir / "small" / "spec.json").string();
  const json good = small_spec();
  auto problem = [&](const json& levels) {
    json spec = good;
    spec["parameters"][1]["options"] = levels;
    return test::message_of([&] { sim::read_dataset_spec(small_dataset(dir, kSmallCsv, spec)); });
  };
  CHECK(problem(json::array({1, 2.5, 1.0})) == spec_path + ": /parameters/1/options/2: duplicate level 1.0 (also at /parameters/1/options/0); list each level once");
  // Closer than level_tolerance(): these were accepted, and a row's 1 then matched either level.
  CHECK(problem(json::array({1e6, 1, 1e6 + 1e-4})) ==
        spec_path + ": /parameters/1/options/2: level 1000000.0001 is within 0.001 of level 1000000.0 (at /parameters/1/options/0): levels are "
                    "told apart only to 1e-9 of the largest level or spread (1e+06): drop one of them");
  CHECK(problem(json::array({-1e308, 1e308})) ==
        spec_path + ": /parameters/1/options: spans -1e+308 to 1e+308, more than a number can hold (1.79769e+308); express the levels in a larger unit");
  // JSON has no inf; 1e999 is refused where it is parsed, naming the file (it escaped as the parser's bare message).
  const auto folder = small_dataset(dir, kSmallCsv, good);
  std::string text = good.dump();
  text.replace(text.find("[1,2.5]"), 7, "[1,1e999]");
  test::write_file(folder / "spec.json", text);
  CHECK(test::message_of([&] { sim::read_dataset_spec(folder); }) ==
        spec_path + ": /: not valid JSON: it holds a number beyond ±1.8e308; write numbers a double holds");
}

TEST_CASE("Datasets: an ordinal objective's levels are at least two, each listed once", "[datasets]") {
  test::TempDir dir;
  const std::string spec_path = (dir / "small" / "spec.json").string();
  json good = small_spec();
  good["objectives"][0].update({{"type", "ordinal"}, {"levels_in_increasing_merit", {"10", "11", "20", "30"}}});
  auto problem = [&](const json& levels) {
    json spec = good;
    spec["objectives"][0]["levels_in_increasing_merit"] = levels;
    return test::message_of([&] { sim::read_dataset(small_dataset(dir, kSmallCsv, spec)); });
  };
  CHECK(problem(good["objectives"][0]["levels_in_increasing_merit"]).empty());
  // A level twice had two ranks: rows matched the first, and the list said otherwise.
  CHECK(problem(json::array({"10", "11", "20", "30", "11"})) ==
        spec_path + ": /objectives/0/levels_in_increasing_merit/4: duplicate level \"11\" (also at /objectives/0/levels_in_increasing_merit/1); list each level once");
  CHECK(problem(json::array()) ==
        spec_path + ": /objectives/0/levels_in_increasing_merit: must list the levels, worst first, at least 2 (e.g. [\"powder\", \"crystals\"])");
  CHECK(problem(json::array({"10"})) == spec_path + ": /objectives/0/levels_in_increasing_merit: lists one level: an objective with one level "
                                                    "cannot be better or worse; list at least 2, worst first");
}

TEST_CASE("Datasets: a categorical option gets the campaign file's rule for a choice: no control characters, no space at either end", "[datasets]") {
  test::TempDir dir;
  const std::string spec_path = (dir / "small" / "spec.json").string();
  const json good = small_spec();
  auto problem = [&](const std::string& option) {
    json spec = good;
    spec["parameters"][0]["options"][1] = option;
    return test::message_of([&] { sim::read_dataset_spec(small_dataset(dir, kSmallCsv, spec)); });
  };
  // "b\nc" passed here; `labloop new --simulator` then wrote a campaign file it refused itself,
  // blaming that file's /parameters/0/choices/1.
  for (const std::string& option : {std::string("b\nc"), std::string("b\tc"), std::string("b\x1b[31mc"), std::string("b\x7f")}) {
    INFO(json(option).dump());
    CHECK(problem(option) == spec_path + ": /parameters/0/options/1: may not contain control characters (line breaks, tabs, escapes)");
  }
  CHECK(problem(" b") == spec_path + ": /parameters/0/options/1: \" b\" starts or ends with a space, which CSV files drop (candidates, "
                                     "prior_results): write it without that space");
  CHECK(problem("b c").empty());
  // Longer than a campaign's choice may be: `labloop new` wrote a file that validate refused.
  CHECK(problem(std::string(1001, 'b')) == spec_path + ": /parameters/0/options/1: is 1001 characters long; at most 1000 are allowed");
  CHECK(problem(std::string(1000, 'b')).empty());
}

TEST_CASE("Datasets: a missing data directory is named with what to do, not a crash", "[datasets]") {
  test::TempDir dir;
  CHECK(sim::dataset_names(dir / "nowhere").empty());
  CHECK(sim::data_dir_problem(dir / "nowhere") ==
        "the data directory " + (dir / "nowhere").string() +
            " does not exist; set the environment variable LABLOOP_DATA_DIR to the folder holding the datasets (simulators/data in labloop's source)");
  CHECK(sim::data_dir_problem(kShippedData).empty());
  test::write_file(dir / "a-file", "");  // it exists: said to be a file, not missing
  CHECK_THAT(sim::data_dir_problem(dir / "a-file"), Catch::StartsWith("the data directory " + (dir / "a-file").string() + " is a file, not a folder; set"));
}

TEST_CASE("Datasets: the catalogue serves lookup tables by folder name and scattered sets through emulators within their rows' box", "[datasets]") {
  const SimulatorSpec* buchwald = sim::catalogue().find("buchwald_a");
  REQUIRE(buchwald);
  CHECK(buchwald->outputs(json::object()) == std::vector<std::string>{"yield"});
  const auto inputs = buchwald->inputs(0);
  REQUIRE(inputs.size() == 4);
  CHECK(inputs[0].name == "aryl_halide");
  CHECK(inputs[0].choices == std::vector<std::string>{"FC(F)(F)c1ccc(Cl)cc1", "FC(F)(F)c1ccc(Br)cc1", "FC(F)(F)c1ccc(I)cc1"});
  CHECK((!buchwald->unavailable || buchwald->unavailable().empty()));

  // A scattered dataset is served by its emulator, whose inputs are the box the rows span: a
  // campaign asking for more is refused where it names the instrument.
  json campaign = {{"name", "t"},
                   {"parameters", {{{"name", "residence_time"}, {"type", "continuous"}, {"low", 0.5}, {"high", 2}},
                                   {{"name", "ratio"}, {"type", "continuous"}, {"low", 1}, {"high", 4.96}},
                                   {{"name", "concentration"}, {"type", "continuous"}, {"low", 0.111}, {"high", 0.5}},
                                   {{"name", "temperature"}, {"type", "continuous"}, {"low", 60}, {"high", 140}}}},
                   {"objective", {{"name", "e_factor"}, {"goal", "minimize"}}},
                   {"instruments", {{{"name", "sim"}, {"simulator", "snar"}}}},
                   {"budget", {{"experiments", 4}}}};
  CHECK(test::message_of([&] { parse_campaign_config(campaign.dump(), "c.json", sim::catalogue()); }) ==
        "c.json: /instruments/0: instrument 'sim' limits \"temperature\" to [64.8, 140], but the campaign asks for [60, 140]; narrow the "
        "parameter's bounds to fit");
  campaign["parameters"][3]["low"] = 64.8;
  CHECK(parse_campaign_config(campaign.dump(), "c.json", sim::catalogue()).instruments.at(0).simulator == "snar");

  // A lookup table accepts no "dim" but its own, and a campaign that fits it loads.
  const json example = json::parse(test::read_file(LABLOOP_SOURCE_DIR "/examples/buchwald_a.json"), nullptr, true, true);
  CHECK(parse_campaign_config(example.dump(), "b.json", sim::catalogue()).instruments.at(0).simulator == "buchwald_a");
  json wrong_dim = example;
  wrong_dim["instruments"][0]["options"] = {{"dim", 3}};
  CHECK(test::message_of([&] { parse_campaign_config(wrong_dim.dump(), "b.json", sim::catalogue()); }) ==
        "b.json: /instruments/0/options/dim: buchwald_a is a dataset with 4 parameters; leave \"dim\" out");
}

TEST_CASE("Datasets: a lookup table served as an instrument declares its columns, answers, adds noise and fails unmeasured combinations", "[datasets]") {
  test::TempDir dir;
  auto table = std::make_shared<const sim::LookupTable>(sim::read_dataset(small_dataset(dir, kSmallCsv)));
  sim::SimulatedInstrument exact(table, {});
  const InstrumentInfo info = exact.describe();
  REQUIRE(info.inputs.size() == 2);
  CHECK(info.inputs[1].type == ParameterType::discrete);
  CHECK(info.inputs[1].values == std::vector<double>{1, 2.5});
  CHECK(info.outputs == std::vector<std::string>{"yield"});
  CHECK(exact.run({{"solvent", "a"}, {"temperature", "1"}}, {})["yield"] == 10.5);
  CHECK(test::message_of([&] { exact.run({{"solvent", "b,c"}, {"temperature", "2.5"}}, {}); }).find("small has no measurement for") == 0);

  sim::SimulatorOptions noisy;
  noisy.noise = 1.0;
  sim::SimulatedInstrument with_noise(table, noisy);
  const double y = with_noise.run({{"solvent", "a"}, {"temperature", "2.5"}}, {})["yield"];
  CHECK(y != 30.0);
  CHECK(std::abs(y - 30.0) < 6.0);

  sim::SimulatorOptions wrong_dim;
  wrong_dim.dim = 3;
  CHECK(test::message_of([&] { sim::SimulatedInstrument refused(table, wrong_dim); }) == "small is a dataset with 2 parameters (got --dim 3); leave --dim out");
}

TEST_CASE("parse_number: one finite number in decimal notation, nothing else", "[csv]") {
  // What people type and what data files hold.
  CHECK(parse_number("71.5") == 71.5);
  CHECK(parse_number("-3") == -3.0);
  CHECK(parse_number("+2") == 2.0);
  CHECK(parse_number("1e-3") == 1e-3);
  CHECK(parse_number("2.5E+2") == 250.0);
  CHECK(parse_number(".5") == 0.5);
  CHECK(parse_number("5.") == 5.0);
  CHECK(parse_number("-0") == 0.0);
  CHECK(parse_number(" 5") == 5.0);  // leading white space, as strtod read it
  // and trailing white space alike: " 71.5" was taken and "71.5 " refused as no number.
  CHECK(parse_number("5 ") == 5.0);
  CHECK(parse_number(" 71.5\t") == 71.5);
  CHECK(parse_number("+2 ") == 2.0);
  CHECK(not_a_number_reason("71.5 ").empty());
  // Unicode's blanks as well: a no-break space (a spreadsheet's, a web page's) or an ideographic one.
  CHECK(parse_number("71.5\u00A0") == 71.5);
  CHECK(parse_number("\u3000-2\u202F") == -2.0);
  CHECK(not_a_number_reason("\u00A0") == "is empty: give a number (e.g. 71.5)");
  CHECK(parse_number("1.7976931348623157e308") == 1.7976931348623157e308);
  // Refused: not a number a person means, or not finite.
  for (const char* text : {"", " ", "+", "-", "0x10", "0X1p3", "nan", "inf", "-infinity", "1e999", "5abc", "5 x", "5,5", "+-5", "++5",
                           "--5", "1e", "e5", "٥", "1_000"}) {
    INFO(text);
    CHECK_FALSE(parse_number(text));
  }
}
