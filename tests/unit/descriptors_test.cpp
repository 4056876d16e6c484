// Descriptors of categorical choices: the table reader and its errors, the features the model
// sees, the kernel over them, and the model's evidence-based choice between one-hot and descriptors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <random>
#include <set>
#include <string>

#include "../../src/model/optimize/model_selection.hpp"
#include "bayesian_options.hpp"
#include "labloop/campaign/campaign_config.hpp"
#include "labloop/campaign/descriptor_copies.hpp"
#include "labloop/campaign/file_digest.hpp"
#include "dataset.hpp"
#include "labloop/core/error.hpp"
#include "labloop/model/descriptors.hpp"
#include "labloop/model/gaussian_process.hpp"
#include "labloop/model/planner.hpp"
#include "labloop/model/space.hpp"
#include "test_support.hpp"

using namespace labloop;
using Catch::Matchers::Contains;

namespace {

Parameter ligand(std::vector<std::string> choices = {"L1", "L2", "L3"}) {
  return Parameter{.name = "ligand", .type = ParameterType::categorical, .choices = std::move(choices)};
}

std::string read_error(const std::filesystem::path& file, const Parameter& p) {
  try {
    read_descriptor_table(file, p);
    return "";
  } catch (const Error& e) {
    return e.what();
  }
}

}  // namespace

TEST_CASE("Descriptors: long files with or without a header and wide files read the same values", "[descriptors]") {
  test::TempDir dir;
  test::write_file(dir / "long.csv", "type,option,desc_name,desc_val\nligand,L2,mass,20\nligand,L1,mass,10\nbase,B1,mass,99\n"
                                     "ligand,L1,charge,-1\nligand,L2,charge,0.5\nligand,L3,mass,30\nligand,L3,charge,1e-3\n");
  test::write_file(dir / "bare.csv", "ligand,L1,mass,10\nligand,L2,mass,20\nligand,L3,mass,30\nligand,L1,charge,-1\nligand,L2,charge,0.5\nligand,L3,charge,1e-3\n");
  test::write_file(dir / "wide.csv", "option,mass,charge\nL3,30,1e-3\nL1,10,-1\nL2,20,0.5\n");
  for (const char* name : {"long.csv", "bare.csv", "wide.csv"}) {
    INFO(name);
    const DescriptorTable t = read_descriptor_table(dir / name, ligand());
    CHECK(t.names == std::vector<std::string>{"mass", "charge"});
    REQUIRE(t.values.size() == 3);
    CHECK(t.values[0] == std::vector<double>{10, -1});
    CHECK(t.values[1] == std::vector<double>{20, 0.5});
    CHECK(t.values[2] == std::vector<double>{30, 1e-3});
  }
}

TEST_CASE("Descriptors: each mistake in a table names the file, the line or choice, and the fix", "[descriptors]") {
  test::TempDir dir;
  const auto f = dir / "d.csv";
  auto error = [&](const std::string& text) {
    test::write_file(f, text);
    return read_error(f, ligand());
  };
  CHECK_THAT(error("option,mass\nL1,1\nL2,2\nL3,3\nL9,4\n"), Contains("line 5: option \"L9\" is not one of the choices of \"ligand\"") &&
                                                                 Contains("remove its rows or add it to the choices"));
  CHECK_THAT(error("option,mass\nL1,1\nL2,2\n"), Contains("choice \"L3\" of \"ligand\" has no descriptors: add its rows"));
  CHECK_THAT(error("ligand,L1,mass,1\nligand,L2,mass,2\nligand,L3,mass,3\nligand,L1,charge,0\n"),
             Contains("choice \"L2\" of \"ligand\" lacks descriptor \"charge\""));
  CHECK_THAT(error("option,mass\nL1,1\nL2,nan\nL3,3\n"), Contains("line 3, column 2: descriptor \"mass\" of option \"L2\" is \"nan\", not a finite number"));
  // A long file whose first row is damaged is still long: the damage is named, not every option
  // "not a choice" (the file read as wide).
  CHECK_THAT(error("parameter,option,descriptor,value\nligand,L1,mass,heavy\nligand,L2,mass,2\nligand,L3,mass,3\n"),
             Contains("d.csv: line 2, column 4: descriptor \"mass\" of option \"L1\" is \"heavy\", not a finite number"));
  // Another parameter's rows are that parameter's business: a campaign folder of an earlier
  // version, whose file has such a row, must still verify and resume (they were skipped unread).
  const Parameter lig = ligand();
  test::TempDir other;
  test::write_file(other / "d.csv", "parameter,option,descriptor,value\nbase,B1,pka,Cl\nligand,L1,mass,1\nligand,L2,mass,2\nligand,L3,mass,3\n");
  CHECK(read_descriptor_table(other / "d.csv", lig).values == std::vector<std::vector<double>>{{1}, {2}, {3}});
  CHECK_THAT(error("option,mass\nL1,1\nL2,inf\nL3,3\n"), Contains("not a finite number"));
  CHECK_THAT(error("ligand,L1,mass,1\nligand,L1,mass,2\n"), Contains("line 2: descriptor \"mass\" of option \"L1\" is given twice"));
  CHECK_THAT(error("base,B1,mass,1\nbase,B2,mass,2\n"), Contains("has no rows for parameter \"ligand\"") && Contains("names base"));
  CHECK_THAT(error("option\nL1\nL2\nL3\n"), Contains("needs a descriptor column"));
  CHECK_THAT(read_error(dir / "missing.csv", ligand()), Contains("missing.csv: cannot read the file"));
  {
    std::string wide = "option";
    for (size_t k = 0; k <= kMaxDescriptors; ++k) wide += ",d" + std::to_string(k);
    CHECK_THAT(error(wide + "\n"), Contains("4097 columns") || Contains("more than 4096 descriptors"));
  }
  {
    std::string big(static_cast<size_t>(kMaxDescriptorFileBytes) + 1, ' ');
    big.replace(0, 14, "option,mass\nL1");
    CHECK_THAT(error(big), Contains("at most 4194304 (4 MiB) are allowed"));
  }
  CHECK_THAT(read_error(f, Parameter{.name = "x"}), Contains("only categorical parameters take descriptors"));
}

TEST_CASE("Descriptors: a campaign file's table is read relative to it, and its mistakes point at the field", "[descriptors][config]") {
  test::TempDir dir;
  test::write_file(dir / "ligands.csv", "option,mass\nL1,1\nL2,2\n");
  nlohmann::json c = nlohmann::json::parse(R"({
    "name": "demo", "parameters": [{"name": "ligand", "type": "categorical", "choices": ["L1", "L2"], "descriptors": "ligands.csv"},
                                   {"name": "x", "type": "continuous", "low": 0, "high": 1}],
    "objective": {"name": "y", "goal": "minimize"}, "planner": {"kind": "bayesian"},
    "instruments": [{"name": "r", "endpoint": "tcp://127.0.0.1:5555"}], "budget": {"experiments": 10}, "output": "runs/demo"})");
  const std::string source = (dir / "campaign.json").string();
  const CampaignConfig config = parse_campaign_config(c.dump(), source, sim::catalogue());
  const Parameter& p = config.parameters.front();
  CHECK(p.descriptors == (dir / "ligands.csv").string());
  CHECK(p.descriptor_values == std::vector<std::vector<double>>{{1}, {2}});
  CHECK(p.to_json().at("descriptors") == p.descriptors);  // journaled absolute: replay reads the same file
  c["parameters"][0]["choices"] = {"L1", "L2", "L3"};
  CHECK_THAT(test::config_error(c, source), Contains("/parameters/0/descriptors") && Contains("choice \"L3\" of \"ligand\" has no descriptors"));
  c["parameters"][0]["descriptors"] = "";
  CHECK_THAT(test::config_error(c, source), Contains("/parameters/0/descriptors: must not be empty"));
  c["parameters"][1]["descriptors"] = "ligands.csv";
  CHECK_THAT(test::config_error(c, source), Contains("/parameters/1"));
}

TEST_CASE("Descriptors: a campaign keeps a copy of each table, and a journal whose table is gone reads the copy or the dataset's file",
          "[descriptors][config]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "tables");
  std::filesystem::create_directories(dir / "campaign");
  const std::string table = "option,mass\nL1,1\nL2,2\n";
  test::write_file(dir / "tables" / "ligands.csv", table);
  nlohmann::json c = nlohmann::json::parse(R"({
    "name": "demo", "parameters": [{"name": "ligand", "type": "categorical", "choices": ["L1", "L2"], "descriptors": "tables/ligands.csv"}],
    "objective": {"name": "y", "goal": "minimize"}, "planner": {"kind": "bayesian"},
    "instruments": [{"name": "r", "endpoint": "tcp://127.0.0.1:5555"}], "budget": {"experiments": 10}})");
  const CampaignConfig config = parse_campaign_config(c.dump(), (dir / "campaign.json").string(), sim::catalogue());
  keep_descriptor_copies(config, dir / "campaign");
  const std::filesystem::path copy = dir / "campaign" / "ligand.descriptors.csv";
  CHECK(test::read_file(copy) == table);
  // A second parameter naming the same table shares the copy (a dataset's file serves them all).
  nlohmann::json two = c;
  two["parameters"].push_back({{"name", "ligand2"}, {"type", "categorical"}, {"choices", {"L1", "L2"}}, {"descriptors", "tables/ligands.csv"}});
  const CampaignConfig both = parse_campaign_config(two.dump(), (dir / "campaign.json").string(), sim::catalogue());
  std::filesystem::create_directories(dir / "both");
  keep_descriptor_copies(both, dir / "both");
  CHECK(std::filesystem::exists(dir / "both" / "ligand.descriptors.csv"));
  CHECK_FALSE(std::filesystem::exists(dir / "both" / "ligand2.descriptors.csv"));
  nlohmann::json both_journaled = both.to_json();
  // The journaled path exists: left alone.
  nlohmann::json journaled = config.to_json();
  find_moved_descriptors(journaled, dir / "campaign", sim::catalogue());
  CHECK(journaled["parameters"][0]["descriptors"] == (dir / "tables" / "ligands.csv").string());
  // Gone (the folder moved to another machine): the copy beside the journal, with the same values.
  std::filesystem::remove(dir / "tables" / "ligands.csv");
  find_moved_descriptors(journaled, dir / "campaign", sim::catalogue());
  CHECK(journaled["parameters"][0]["descriptors"] == copy.string());
  // The folder named relative to the working directory (`labloop replay kept`): the copy by its
  // absolute path, as a relative one would be taken from the configuration's own folder.
  nlohmann::json relative = config.to_json();
  find_moved_descriptors(relative, std::filesystem::relative(dir / "campaign"), sim::catalogue());
  CHECK(relative["parameters"][0]["descriptors"] == copy.string());
  CHECK(parse_campaign_config(relative.dump(), (dir / "campaign" / "journal.jsonl").string(), sim::catalogue()).parameters[0].descriptor_values ==
        std::vector<std::vector<double>>{{1}, {2}});
  find_moved_descriptors(both_journaled, dir / "both", sim::catalogue());
  CHECK(both_journaled["parameters"][1]["descriptors"] == (dir / "both" / "ligand.descriptors.csv").string());
  CHECK(parse_campaign_config(journaled.dump(), "journal", sim::catalogue()).parameters[0].descriptor_values == std::vector<std::vector<double>>{{1}, {2}});
  // Neither there nor copied: left as journaled, and reading it names the file.
  nlohmann::json lost = config.to_json();
  find_moved_descriptors(lost, dir / "elsewhere", sim::catalogue());
  CHECK(lost["parameters"][0]["descriptors"] == (dir / "tables" / "ligands.csv").string());
  CHECK_THROWS_WITH(parse_campaign_config(lost.dump(), "journal", sim::catalogue()), Contains("ligands.csv") && Contains("cannot read the file"));
  // A dataset's descriptors.csv in a data directory that has moved (an upgrade, another machine),
  // from a campaign written before copies were kept: the dataset's file where it is now.
  nlohmann::json dataset = nlohmann::json::parse(R"({"parameters": [{"name": "anion", "descriptors": "/gone/perovskites/descriptors.csv"}],
    "instruments": [{"name": "sim", "simulator": "perovskites"}]})");
  find_moved_descriptors(dataset, {}, sim::catalogue());
  CHECK(std::filesystem::path(dataset["parameters"][0]["descriptors"].get<std::string>()) ==
        std::filesystem::absolute(sim::data_dir() / "perovskites" / "descriptors.csv").lexically_normal());
  // Another dataset's folder name: no match.
  dataset["parameters"][0]["descriptors"] = "/gone/mmli_opv/descriptors.csv";
  find_moved_descriptors(dataset, {}, sim::catalogue());
  CHECK(dataset["parameters"][0]["descriptors"] == "/gone/mmli_opv/descriptors.csv");
}

TEST_CASE("Descriptors: the journal records each table's SHA-256, and a table changed since is replaced by the copy or refused",
          "[descriptors][config]") {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "campaign");
  const std::string table = "option,mass\nL1,1\nL2,2\n";
  test::write_file(dir / "ligands.csv", table);
  nlohmann::json c = nlohmann::json::parse(R"({
    "name": "demo", "parameters": [{"name": "ligand", "type": "categorical", "choices": ["L1", "L2"], "descriptors": "ligands.csv"}],
    "objective": {"name": "y", "goal": "minimize"}, "planner": {"kind": "bayesian"},
    "instruments": [{"name": "r", "endpoint": "tcp://127.0.0.1:5555"}], "budget": {"experiments": 10}})");
  const CampaignConfig config = parse_campaign_config(c.dump(), (dir / "campaign.json").string(), sim::catalogue());
  const nlohmann::json recorded = keep_descriptor_copies(config, dir / "campaign");
  const std::string path = (dir / "ligands.csv").string();
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[path] == sha256_hex(table));
  CHECK(keep_descriptor_copies(parse_campaign_config(R"({"name": "plain", "parameters": [{"name": "x", "type": "continuous", "low": 0, "high": 1}],
    "objective": {"name": "y", "goal": "minimize"}, "instruments": [{"name": "r", "endpoint": "tcp://127.0.0.1:5555"}],
    "budget": {"experiments": 10}})", (dir / "plain.json").string(), sim::catalogue()), dir / "campaign") == nlohmann::json::object());
  // Unchanged: left alone.
  nlohmann::json journaled = config.to_json();
  find_moved_descriptors(journaled, dir / "campaign", sim::catalogue(), recorded);
  CHECK(journaled["parameters"][0]["descriptors"] == path);
  // Changed since (an updated data directory): the copy holds the recorded bytes and replaces it.
  test::write_file(dir / "ligands.csv", "option,mass\nL1,1\nL2,3\n");
  find_moved_descriptors(journaled, dir / "campaign", sim::catalogue(), recorded);
  CHECK(journaled["parameters"][0]["descriptors"] == (dir / "campaign" / "ligand.descriptors.csv").string());
  CHECK(parse_campaign_config(journaled.dump(), "journal", sim::catalogue()).parameters[0].descriptor_values == std::vector<std::vector<double>>{{1}, {2}});
  // A journal written before digests were recorded cannot tell: the file as it is now.
  nlohmann::json older = config.to_json();
  find_moved_descriptors(older, dir / "campaign", sim::catalogue());
  CHECK(older["parameters"][0]["descriptors"] == path);
  // Changed, and no copy with the recorded bytes: refused with the file and both digests.
  test::write_file(dir / "campaign" / "ligand.descriptors.csv", "option,mass\nL1,1\nL2,4\n");
  nlohmann::json refused = config.to_json();
  CHECK_THROWS_WITH(find_moved_descriptors(refused, dir / "campaign", sim::catalogue(), recorded),
                    Contains("the descriptor table " + path + " has changed since the campaign began") && Contains(sha256_hex(table)) &&
                        Contains("restore that file"));
}

TEST_CASE("Descriptors: a campaign file on a dataset simulator takes the dataset's descriptors.csv, journaled, unless it says false",
          "[descriptors][config]") {
  // perovskites: three categorical parameters, all described in its descriptors.csv.
  test::TempDir dir;
  const sim::DatasetSpec spec = sim::read_dataset_spec(sim::data_dir() / "perovskites");
  nlohmann::json c{{"name", "perov"}, {"objective", {{"name", "hse_gap"}, {"goal", "minimize"}}}, {"planner", {{"kind", "bayesian"}}},
                   {"instruments", {{{"name", "sim"}, {"simulator", "perovskites"}}}}, {"budget", {{"experiments", 10}}}, {"output", "runs/p"}};
  for (const Parameter& p : spec.parameters) c["parameters"].push_back(p.to_json());
  const std::filesystem::path file = dir / "campaign.json";
  test::write_file(file, c.dump());
  const CampaignConfig loaded = load_campaign_config(file.string(), sim::catalogue());
  const std::string table = (sim::data_dir() / "perovskites" / "descriptors.csv").string();
  for (const Parameter& p : loaded.parameters) {
    INFO(p.name);
    CHECK(p.descriptors == table);
    CHECK(!p.descriptor_names.empty());
    CHECK(p.descriptor_values.size() == p.choices.size());
  }
  // The journaled config names the file, so replay reads it again; parsing a config (as replay
  // and resume parse the journal) adopts nothing: a campaign journaled before this stays one-hot.
  CHECK(loaded.to_json()["parameters"][0]["descriptors"] == table);
  const CampaignConfig journaled = parse_campaign_config(loaded.to_json().dump(), "journal", sim::catalogue());
  CHECK(journaled.parameters[0].descriptors == table);
  const CampaignConfig old = parse_campaign_config(c.dump(), "journal", sim::catalogue());
  for (const Parameter& p : old.parameters) CHECK(p.descriptors.empty());
  // The planner models them with an effect of each choice's own beside them (decision 0016),
  // journaled too; an older journal has neither that nor a margin and replays with the plain
  // evidence choice it ran with.
  CHECK(loaded.to_json()["planner"]["one_hot_residual"] == true);
  CHECK_FALSE(old.planner.options.contains("one_hot_residual"));
  CHECK_FALSE(old.planner.options.contains("one_hot_margin"));
  // "descriptors": false keeps a parameter one-hot, and is journaled as such.
  c["parameters"][0]["descriptors"] = false;
  test::write_file(file, c.dump());
  const CampaignConfig off = load_campaign_config(file.string(), sim::catalogue());
  CHECK(off.parameters[0].descriptors.empty());
  CHECK(off.parameters[0].one_hot_only);
  CHECK(off.parameters[1].descriptors == table);
  CHECK(off.to_json()["parameters"][0]["descriptors"] == false);
  CHECK(parse_campaign_config(off.to_json().dump(), "journal", sim::catalogue()).parameters[0].one_hot_only);
  c["parameters"][0]["descriptors"] = true;
  CHECK_THAT(test::config_error(c, file.string()), Contains("/parameters/0/descriptors: true is not a file"));
}

TEST_CASE("Descriptors: a dataset's damaged file leaves a parameter one-hot with a note saying which and why", "[descriptors]") {
  test::TempDir dir;
  const auto f = dir / "descriptors.csv";
  const Parameter base{.name = "base", .type = ParameterType::categorical, .choices = {"B1", "B2"}};
  const Parameter solvent{.name = "solvent", .type = ParameterType::categorical, .choices = {"S1", "S2"}};
  // base's first row is text (it made the file read as wide: every parameter one-hot, silently);
  // ligand has a nan; solvent has no rows.
  test::write_file(f, "parameter,option,descriptor,value\nbase,B1,pka,Cl\nbase,B2,pka,4\nligand,L1,mass,1\nligand,L2,mass,nan\nligand,L3,mass,3\n"
                      "additive,A1,mass,1\n");
  std::vector<Parameter> parameters{base, ligand(), solvent};
  const std::vector<std::string> notes = adopt_descriptors(parameters, f);
  REQUIRE(notes.size() == 2);
  CHECK_THAT(notes[0], Contains("parameter 'base' stays one-hot") && Contains("descriptors.csv: line 2, column 4") && Contains("\"Cl\""));
  CHECK_THAT(notes[1], Contains("parameter 'ligand' stays one-hot") && Contains("line 5, column 4") && Contains("\"nan\""));
  for (const Parameter& p : parameters) CHECK(p.descriptors.empty());
  // Sound rows are adopted beside damaged ones, and a parameter without rows is no news.
  test::write_file(f, "parameter,option,descriptor,value\nbase,B1,pka,Cl\nbase,B2,pka,4\nligand,L1,mass,1\nligand,L2,mass,2\nligand,L3,mass,3\n");
  parameters = {base, ligand(), solvent};
  CHECK(adopt_descriptors(parameters, f).size() == 1);
  CHECK(parameters[1].descriptors == f.string());
  CHECK(parameters[1].descriptor_values == std::vector<std::vector<double>>{{1}, {2}, {3}});
  CHECK(parameters[2].descriptors.empty());
}

TEST_CASE("Descriptors: features drop constant and duplicate columns, scale jointly and reduce by principal components", "[descriptors]") {
  // Columns: varying, constant, a scaled copy, a negated copy, another varying one.
  const std::vector<std::vector<double>> v{{1, 5, 2, -1, 0}, {2, 5, 4, -2, 3}, {4, 5, 8, -4, 1}, {3, 5, 6, -3, 7}};
  const Eigen::MatrixXd f = descriptor_features(v);
  REQUIRE(f.rows() == 4);
  CHECK(f.cols() == 2);  // the constant and both copies dropped
  CHECK(f.minCoeff() == Approx(0.0).margin(1e-12));
  CHECK(f.maxCoeff() == Approx(1.0));
  // Joint scaling: the two standardized columns keep equal spread per unit of standard deviation.
  const Eigen::RowVectorXd sd = ((f.rowwise() - f.colwise().mean()).array().square().colwise().mean()).sqrt();
  CHECK(sd[0] == Approx(sd[1]));
  // The order of the choices is kept: column 0 follows the first descriptor.
  CHECK(f(0, 0) == Approx(0.0).margin(1e-12));
  CHECK(f(2, 0) == Approx(1.0));

  // 10 choices, 50 descriptors: at most min(50, 9, kMaxDescriptorComponents) components.
  std::mt19937_64 rng(3);
  std::normal_distribution<double> n01;
  std::vector<std::vector<double>> many(10, std::vector<double>(50));
  for (auto& row : many)
    for (double& x : row) x = n01(rng);
  const Eigen::MatrixXd reduced = descriptor_features(many);
  CHECK(reduced.cols() == kMaxDescriptorComponents);
  CHECK(descriptor_features(many, 3).cols() == 3);
  std::vector<std::vector<double>> three(many.begin(), many.begin() + 3);
  CHECK(descriptor_features(three).cols() == 2);  // choices − 1
  // Principal components come in decreasing spread: the first spans [0, 1].
  CHECK((reduced.col(0).maxCoeff() - reduced.col(0).minCoeff()) == Approx(1.0));
  CHECK((reduced.col(1).maxCoeff() - reduced.col(1).minCoeff()) <= 1.0 + 1e-12);
  // Nothing varies: no features.
  CHECK(descriptor_features({{1, 2}, {1, 2}}).cols() == 0);
}

TEST_CASE("Descriptors: whether a column varies is judged against its own magnitude, so units do not matter", "[descriptors]") {
  // Anion ionization energies in eV and in joules (×1.602e-19), and the eV values ×1e200.
  const std::vector<std::vector<double>> ev{{17.42}, {12.97}, {11.81}, {10.45}};
  const Eigen::MatrixXd reference = descriptor_features(ev);
  REQUIRE(reference.cols() == 1);
  for (const double unit : {1.602176634e-19, 1e-200, 1e200}) {
    std::vector<std::vector<double>> scaled = ev;
    for (auto& row : scaled) row[0] *= unit;
    const Eigen::MatrixXd f = descriptor_features(scaled);
    INFO("unit " << unit);
    REQUIRE(f.cols() == 1);
    CHECK((f - reference).cwiseAbs().maxCoeff() < 1e-12);
  }
  // A power of two changes nothing, to the bit.
  std::vector<std::vector<double>> halves = ev;
  for (auto& row : halves) row[0] = std::ldexp(row[0], -60);
  CHECK(descriptor_features(halves) == reference);
  // Equal tiny values, and values equal but for rounding, are still constant.
  CHECK(descriptor_features({{1e-18}, {1e-18}, {1e-18}}).cols() == 0);
  CHECK(descriptor_features({{0.1 + 0.2}, {0.3}, {0.3}}).cols() == 0);
  CHECK(descriptor_features({{3e-19 * (0.1 + 0.2)}, {3e-19 * 0.3}}).cols() == 0);
  CHECK(descriptor_features({{0.0}, {0.0}}).cols() == 0);
}

TEST_CASE("Descriptors: the feature map takes a one-hot point to its choice's features and passes other coordinates through", "[descriptors]") {
  Parameter p = ligand({"L1", "L2", "L3", "L4"});
  p.descriptor_values = {{1, 0}, {2, 1}, {4, 0}, {3, 5}};
  const Space space({Parameter{.name = "x", .low = 0, .high = 10}, p, Parameter{.name = "base", .type = ParameterType::categorical, .choices = {"a", "b"}}});
  const auto map = descriptor_feature_map(space);
  REQUIRE(map);
  const Eigen::MatrixXd f = descriptor_features(p.descriptor_values);
  REQUIRE(map->matrix.rows() == 1 + f.cols() + 2);
  CHECK(map->matrix.cols() == space.cube_dim());
  CHECK(map->groups == std::vector<int>{0, 1, 1, 2, 2});
  for (int c = 0; c < 4; ++c) {
    const Eigen::VectorXd x = space.encode({{"x", 2.5}, {"ligand", p.choices[static_cast<size_t>(c)]}, {"base", "b"}});
    const Eigen::VectorXd m = map->matrix * x;
    CHECK(m[0] == Approx(0.25));
    CHECK((m.segment(1, f.cols()).transpose() - f.row(c)).norm() < 1e-12);
    CHECK(m[m.size() - 2] == 0.0);
    CHECK(m[m.size() - 1] == 1.0);
  }
  CHECK_FALSE(descriptor_feature_map(Space({ligand()})));  // no descriptors: no map
}

TEST_CASE("Descriptors: a Gaussian process over mapped inputs has gradients that match finite differences", "[descriptors]") {
  Parameter p = ligand({"L1", "L2", "L3"});
  p.descriptor_values = {{1, 0}, {2, 1}, {4, 3}};
  const Space space({Parameter{.name = "x", .low = 0, .high = 1}, p});
  GaussianProcessOptions o;
  const auto map = descriptor_feature_map(space);
  REQUIRE(map);
  o.input_map = map->matrix;
  o.lengthscale_groups = map->groups;
  o.additive = true;
  // Alone, and with a residual per choice (one lengthscale for the x input, one for the ligand's three).
  o.input_residual = GENERATE(false, true);
  o.residual_lengthscale_groups = {0, 1, 1, 1};
  INFO("residual " << o.input_residual);
  GaussianProcess gp(space.cube_dim(), o);
  Eigen::MatrixXd x(4, space.cube_dim());
  x << 0.1, 1, 0, 0, 0.5, 0, 1, 0, 0.9, 0, 0, 1, 0.3, 0, 1, 0;
  gp.set_data(x, Eigen::Vector4d(1, 2, 0.5, 1.5));
  gp.fit();
  CHECK(gp.kernel().num_lengthscales() == map->matrix.rows() + (o.input_residual ? space.cube_dim() : 0));
  // The log posterior's gradient in θ (the fit's) against finite differences, at the fitted θ.
  const Eigen::VectorXd theta = gp.hyperparameters();
  Eigen::VectorXd grad;
  gp.log_posterior(theta, &grad);
  for (Eigen::Index j = 0; j < theta.size(); ++j) {
    Eigen::VectorXd up = theta, down = theta;
    up[j] += 1e-6, down[j] -= 1e-6;
    CHECK(grad[j] == Approx((gp.log_posterior(up, nullptr) - gp.log_posterior(down, nullptr)) / 2e-6).margin(1e-4));
  }
  const Eigen::VectorXd at = (Eigen::VectorXd(4) << 0.4, 0.2, 0.5, 0.3).finished();
  double mean = 0, variance = 0;
  Eigen::VectorXd mg, vg;
  gp.predict(at, mean, variance, mg, vg);
  for (Eigen::Index j = 0; j < at.size(); ++j) {
    Eigen::VectorXd up = at, down = at;
    up[j] += 1e-6, down[j] -= 1e-6;
    Eigen::VectorXd mu, mv, du, dv;
    gp.predict(up.transpose(), mu, mv);
    gp.predict(down.transpose(), du, dv);
    CHECK(mg[j] == Approx((mu[0] - du[0]) / 2e-6).margin(1e-5));
    CHECK(vg[j] == Approx((mv[0] - dv[0]) / 2e-6).margin(1e-5));
  }
}

namespace {

// 16 choices with two descriptors: `smooth` (the output is a smooth function of it) and `noise`.
Space synthetic_space(bool informative) {
  Parameter p = ligand({});
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> u(0, 1);
  for (int c = 0; c < 16; ++c) {
    p.choices.push_back("c" + std::to_string(c));
    const double smooth = c / 15.0, noise = u(rng);
    p.descriptor_values.push_back(informative ? std::vector<double>{smooth, 0.2 * noise} : std::vector<double>{noise, u(rng)});
  }
  return Space({p});
}

// Whether the model fitted to `results` results (choices in turn, repeated) sees descriptors.
bool chooses_descriptors(const Space& space, const std::function<double(int)>& value, double one_hot_margin = 0.0, int results = 32) {
  detail::ModelSelectionOptions options;
  options.one_hot_margin = one_hot_margin;
  detail::ModelSelection selection(space, 5, options);
  detail::Observations obs;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.02);
  for (int k = 0; k < results; ++k) {
    const int c = k % 16;
    Eigen::VectorXd x = Eigen::VectorXd::Zero(16);
    x[c] = 1;
    obs.add(x, value(c) + noise(rng));
  }
  selection.fit(obs, rng, 30.0);
  return selection.uses_descriptors();
}

// The model with a one-hot residual (decision 0016), its share fitted, after 32 results on the
// choices but 2, 6, 10 and 13 (in turn, repeated): its descriptor share, and its posterior mean
// and standard deviation at every choice.
struct ResidualFit {
  double share;
  Eigen::VectorXd mean, sd;
};
const std::vector<int> kUntried{2, 6, 10, 13};
ResidualFit fit_with_residual(const Space& space, const std::function<double(int)>& value) {
  detail::ModelSelectionOptions options;
  options.one_hot_residual = true;
  options.additive_share = detail::AdditiveShare::fitted;  // the kernel's own parameters, the share among them
  detail::ModelSelection selection(space, 5, options);
  REQUIRE(selection.uses_descriptors());
  std::vector<int> tried;
  for (int c = 0; c < 16; ++c)
    if (std::find(kUntried.begin(), kUntried.end(), c) == kUntried.end()) tried.push_back(c);
  detail::Observations obs;
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0, 0.02);
  for (size_t k = 0; k < 32; ++k) {
    const int c = tried[k % tried.size()];
    Eigen::VectorXd x = Eigen::VectorXd::Zero(16);
    x[c] = 1;
    obs.add(x, value(c) + noise(rng));
  }
  selection.fit(obs, rng, 30.0);
  const Eigen::VectorXd p = selection.model().kernel().log_params();
  ResidualFit fit{1.0 / (1.0 + std::exp(-(p(p.size() - 2) + std::log(0.8 / 0.2)))), {}, {}};
  Eigen::VectorXd variance;
  selection.model().predict(Eigen::MatrixXd::Identity(16, 16), fit.mean, variance);
  fit.sd = variance.cwiseSqrt();
  return fit;
}

std::vector<double> unrelated_effects() {
  std::mt19937_64 rng(19);
  std::normal_distribution<double> n01;
  std::vector<double> effect;
  for (int c = 0; c < 16; ++c) effect.push_back(n01(rng));
  return effect;
}

}  // namespace

TEST_CASE("Descriptors: evidence picks descriptors when the output follows one and one-hot when they are noise", "[descriptors][model]") {
  CHECK(chooses_descriptors(synthetic_space(true), [](int c) { return std::sin(4.0 * c / 15.0); }));
  // Unrelated per-choice values, and descriptors drawn independently of them.
  const std::vector<double> effect = unrelated_effects();
  CHECK_FALSE(chooses_descriptors(synthetic_space(false), [&](int c) { return effect[static_cast<size_t>(c)]; }));
}

TEST_CASE("Descriptors: with a one-hot margin, one-hot replaces them only on strong evidence", "[descriptors][model]") {
  // Descriptors that are noise, per-choice values unrelated to them: one-hot is the better model,
  // but a descriptor model with short lengthscales nearly matches it, so its evidence stays weak.
  const Space space = synthetic_space(false);
  const std::vector<double> effect = unrelated_effects();
  auto value = [&](int c) { return effect[static_cast<size_t>(c)]; };
  int kept_by_margin = 0;
  for (int results = 4; results <= 32; results += 4) {
    INFO(results << " results");
    const bool plain = chooses_descriptors(space, value, 0.0, results), margin = chooses_descriptors(space, value, 3.0, results);
    // Whatever a plain evidence choice keeps, the margin keeps too; it differs only by keeping more.
    CHECK((margin || !plain));
    kept_by_margin += margin && !plain ? 1 : 0;
  }
  CHECK(kept_by_margin > 0);
  // Misleading descriptors: choices c and c + 8 are twins by their descriptor, yet have opposite
  // values. No lengthscale fits that, and the evidence for one-hot is strong: it replaces them.
  Parameter twins = synthetic_space(false).parameters().front();
  for (int c = 0; c < 16; ++c) twins.descriptor_values[static_cast<size_t>(c)] = {(c % 8) / 7.0 + 1e-4 * (c / 8)};
  auto opposite = [](int c) { return c < 8 ? 1.0 : -1.0; };
  CHECK_FALSE(chooses_descriptors(Space({twins}), opposite, 3.0, 32));
  // A margin no evidence can clear keeps them always.
  CHECK(chooses_descriptors(Space({twins}), opposite, 1e6, 32));
}

TEST_CASE("Descriptors: with a one-hot residual the fit gives descriptors the larger share where they explain the values", "[descriptors][model]") {
  // Twelve of sixteen choices tried. Where the values follow a descriptor, the descriptors carry
  // most of the signal; where they are unrelated, the choices' own effects do.
  const ResidualFit follows = fit_with_residual(synthetic_space(true), [](int c) { return std::sin(4.0 * c / 15.0); });
  const std::vector<double> effect = unrelated_effects();
  const ResidualFit unrelated = fit_with_residual(synthetic_space(false), [&](int c) { return effect[static_cast<size_t>(c)]; });
  // (Noise descriptors with short lengthscales can pass for one-hot, so theirs need not fall far.)
  CHECK(follows.share > unrelated.share);
  // Descriptors that explain the values predict the untried choices (the values span [-1, 1]).
  for (int c : kUntried) CHECK(std::abs(follows.mean[c] - std::sin(4.0 * c / 15.0)) < 0.3);
  // Misleading ones leave the untried choices uncertain instead of confidently like their
  // descriptor twins: each keeps a sizeable share of the prior, so the planner still tries them.
  Parameter twins = synthetic_space(false).parameters().front();
  for (int c = 0; c < 16; ++c) twins.descriptor_values[static_cast<size_t>(c)] = {(c % 8) / 7.0 + 1e-4 * (c / 8)};
  const ResidualFit misled = fit_with_residual(Space({twins}), [](int c) { return c < 8 ? 1.0 : -1.0; });
  CHECK(misled.share < follows.share - 0.2);
  for (int c : kUntried) {
    INFO("choice " << c);
    CHECK(misled.sd[c] > 5 * misled.sd[0]);
  }
}

TEST_CASE("Descriptors: the Bayesian planner with descriptors proposes only declared choices", "[descriptors][planner]") {
  Parameter p = ligand({"L1", "L2", "L3", "L4", "L5"});
  p.descriptor_values = {{1, 0.3}, {2, 0.1}, {4, 0.7}, {3, 0.2}, {5, 0.9}};
  const Space space({Parameter{.name = "x", .low = 0, .high = 1}, p});
  const PlannerConfig config{"bayesian", nlohmann::json{{"initial", 4}}};
  auto planner = make_planner(PlannerContext{space, 3, config, "test"});
  const std::set<std::string> declared(p.choices.begin(), p.choices.end());
  for (int i = 0; i < 12; ++i) {
    const Point x = planner->ask(1, {}).front();
    CHECK((space.canonical(x) - x).norm() < 1e-12);
    const Params params = space.decode(x);
    const std::string choice = params.at("ligand");
    CHECK(declared.count(choice) == 1);
    const auto index = std::find(p.choices.begin(), p.choices.end(), choice) - p.choices.begin();
    const double y = std::pow(params.at("x").get<double>() - 0.3, 2) + 0.1 * static_cast<double>(index);
    planner->tell(Observation::succeeded(x, y));
  }
}

// Not descriptors, but the same surrogate: with a stated noise (an objective's "noise") the model
// uses it, and keeps skewed results unwarped when it is above 0, since a warp would make the noise unequal.
TEST_CASE("Model selection: a stated noise fixes the model's noise and, above 0, keeps the results unwarped", "[gp]") {
  const Space space({Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0, .high = 1}});
  auto fitted = [&](double noise_sd) {
    detail::ModelSelectionOptions options;
    options.noise_sd = noise_sd;
    auto selection = std::make_unique<detail::ModelSelection>(space, 5, options);
    detail::Observations obs;
    std::mt19937_64 rng(9);
    std::uniform_real_distribution<double> unit(0, 1);
    for (int k = 0; k < 20; ++k) {
      const Eigen::Vector2d x(unit(rng), unit(rng));
      obs.add(x, std::exp(6.0 * x[0] + 3.0 * x[1]));  // heavy right tail: the evidence wants a warp
    }
    selection->fit(obs, rng, 30.0);
    return selection;
  };
  CHECK(fitted(std::nan(""))->to_model_units(500.0) != Approx(500.0));
  CHECK(fitted(0.0)->to_model_units(500.0) != Approx(500.0));  // noise-free: a warp changes no noise
  const auto stated = fitted(2.0);
  CHECK(stated->to_model_units(500.0) == Approx(500.0));
  CHECK(stated->model().noise_variance() == Approx(4.0));

  detail::ModelSelectionOptions warped;
  warped.noise_sd = 2.0;
  warped.output_transform = detail::OutputTransform::yeo_johnson;
  CHECK_THROWS_WITH(detail::ModelSelection(space, 5, warped), Catch::Contains("\"output_transform\""));
  warped.noise_sd = 0.0;
  CHECK_NOTHROW(detail::ModelSelection(space, 5, warped));
}

// "auto" (decision 0017): a floor — the worst value shared by two or more results — is modelled
// by rank (half_rank); without one, as select; with a stated noise, never warped.
TEST_CASE("Model selection: auto ranks the worse half while a floor of equal worst results lasts, and is select otherwise", "[gp]") {
  const Space space({Parameter{.name = "a", .low = 0, .high = 1}, Parameter{.name = "b", .low = 0, .high = 1}});
  // Smaller is better for the model: a floor is equal largest values (0 % yield, negated).
  auto observations = [](bool floor) {
    detail::Observations obs;
    std::mt19937_64 rng(3);
    std::uniform_real_distribution<double> unit(0, 1);
    for (int k = 0; k < 16; ++k) {
      const Eigen::Vector2d x(unit(rng), unit(rng));
      const double y = -100.0 * x[0] * x[1];
      obs.add(x, floor && k % 4 == 0 ? 0.0 : y - 1.0);  // four results at the floor, 0
    }
    return obs;
  };
  auto fitted = [&](detail::OutputTransform transform, bool floor, double noise_sd = std::nan("")) {
    detail::ModelSelectionOptions options;
    options.output_transform = transform;
    options.noise_sd = noise_sd;
    auto selection = std::make_unique<detail::ModelSelection>(space, 5, options);
    std::mt19937_64 rng(1);
    selection->fit(observations(floor), rng, 30.0);
    return selection;
  };
  const std::vector<double> probes{-60.0, -20.0, -5.0, -1.5, 0.0};
  auto same_units = [&](const detail::ModelSelection& a, const detail::ModelSelection& b) {
    for (double v : probes)
      if (a.to_model_units(v) != Approx(b.to_model_units(v))) return false;
    return true;
  };
  using detail::OutputTransform;
  CHECK(same_units(*fitted(OutputTransform::automatic, true), *fitted(OutputTransform::half_rank, true)));
  CHECK_FALSE(same_units(*fitted(OutputTransform::automatic, true), *fitted(OutputTransform::select, true)));
  CHECK(same_units(*fitted(OutputTransform::automatic, false), *fitted(OutputTransform::select, false)));
  // Half-rank moves the worse half: 0 (the floor) is not where it was.
  CHECK(fitted(OutputTransform::automatic, true)->to_model_units(0.0) != Approx(0.0).margin(1e-6));
  const auto noisy = fitted(OutputTransform::automatic, true, 1.0);
  for (double v : probes) CHECK(noisy->to_model_units(v) == Approx(v));
}

TEST_CASE("Bayesian options: auto is none with several objectives, and allowed with a stated noise", "[gp]") {
  const Space space({Parameter{.name = "a", .low = 0, .high = 1}});
  const PlannerConfig config{"bayesian", {{"output_transform", "auto"}}};
  const std::string source = "c.json";
  PlannerGoals one;
  CHECK(detail::parse_bayesian_options(PlannerContext{space, 1, config, source, one}).model.output_transform == detail::OutputTransform::automatic);
  PlannerGoals two;
  two.objectives = 2;
  CHECK(detail::parse_bayesian_options(PlannerContext{space, 1, config, source, two}).model.output_transform == detail::OutputTransform::none);
  one.noise = {0.5};
  CHECK_NOTHROW(detail::parse_bayesian_options(PlannerContext{space, 1, config, source, one}));
}
