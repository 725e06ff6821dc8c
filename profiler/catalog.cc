#include "profiler/catalog.h"

#include <cstdlib>

#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"
// Generated from profiler/catalog.json by cmake/embed_text.cmake: catalog_json_text().
#include "catalog_embedded.h"

namespace ccprof::profiler {

namespace {

SubjectKind subject_kind_of(std::string_view name) {
  for (SubjectKind k : {SubjectKind::kLock, SubjectKind::kCacheLine, SubjectKind::kWord, SubjectKind::kProcess,
                        SubjectKind::kThreadPool, SubjectKind::kCallSite})
    if (name == subject_kind_name(k)) return k;
  return SubjectKind::kNone;
}

[[noreturn]] void bad_catalog(const std::string& why) {
  spdlog::critical("profiler/catalog.json (embedded) is malformed: {}", why);
  std::abort();
}

struct Catalog {
  std::vector<KindInfo> kinds;
  std::vector<LossInfo> losses;
};

// Parsed once, at first use. The file is part of the build, so a malformed entry is a
// programming error: catalog_test parses it in CI before any release could carry it.
const Catalog& catalog() {
  static const Catalog c = [] {
    Catalog out;
    const std::string_view text = catalog_json_text();
    const auto doc = nlohmann::json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (!doc.is_object() || !doc.contains("kinds") || !doc.contains("losses")) bad_catalog("no kinds or losses");
    for (const auto& k : doc["kinds"]) {
      KindInfo info;
      try {
        info.kind = k.at("kind").get<std::string>();
        info.scenario = k.at("scenario").get<int>();
        info.scenario_title = k.at("scenario_title").get<std::string>();
        info.remedy_kind = k.at("remedy_kind").get<std::string>();
        info.label = k.at("label").get<std::string>();
        info.remedy = k.at("remedy").get<std::string>();
        info.subject = subject_kind_of(k.at("subject").get<std::string>());
        info.general = k.value("general", false);
      } catch (const nlohmann::json::exception& e) {
        bad_catalog(e.what());
      }
      if (info.subject == SubjectKind::kNone) bad_catalog("unknown subject of " + info.kind);
      out.kinds.push_back(std::move(info));
    }
    for (const auto& l : doc["losses"]) {
      if (!l.contains("name") || !l.contains("detail")) bad_catalog("a loss counter without name or detail");
      out.losses.push_back({l["name"].get<std::string>(), l["detail"].get<std::string>()});
    }
    return out;
  }();
  return c;
}

}  // namespace

const std::vector<KindInfo>& finding_kinds() { return catalog().kinds; }

const KindInfo* kind_info(std::string_view kind) {
  for (const auto& k : finding_kinds())
    if (k.kind == kind) return &k;
  return nullptr;
}

void set_kind(Finding& f, std::string_view kind) {
  const KindInfo* k = kind_info(kind);
  if (!k) {
    spdlog::critical("finding kind '{}' is not in the catalog (profiler/catalog.json)", kind);
    std::abort();
  }
  f.kind = std::string(k->kind);
  f.scenario = k->scenario;
  f.remedy.kind = std::string(k->remedy_kind);
}

Finding new_finding(std::string_view kind) {
  Finding f;
  set_kind(f, kind);
  return f;
}

const std::vector<LossInfo>& loss_counters() { return catalog().losses; }

std::string describe_loss(const std::string& name) {
  for (const auto& l : loss_counters()) {
    if (l.name == name) return l.detail;
    const bool prefix = l.name.ends_with(".") || l.name.ends_with(": ");
    if (prefix && std::string_view(name).starts_with(l.name)) {
      if (l.name == "sampler.no_address.") return std::string(l.detail) + ": " + name.substr(l.name.size());
      return std::string(l.detail);
    }
  }
  return "";
}

const char* subject_kind_name(SubjectKind k) {
  switch (k) {
    case SubjectKind::kLock: return "lock";
    case SubjectKind::kCacheLine: return "cache-line";
    case SubjectKind::kWord: return "word";
    case SubjectKind::kProcess: return "process";
    case SubjectKind::kThreadPool: return "thread-pool";
    case SubjectKind::kCallSite: return "call-site";
    case SubjectKind::kNone: break;
  }
  return "none";
}

}  // namespace ccprof::profiler
