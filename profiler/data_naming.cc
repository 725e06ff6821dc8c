#include "profiler/data_naming.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <memory>
#include <string_view>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "profiler/dwarf_scopes.h"

namespace ccprof::profiler {
namespace {

// Variables with a static address, per Dwarf: address (unbiased) -> DIE offset.
using VariableIndex = std::map<Dwarf_Addr, Dwarf_Off>;

bool static_address(Dwarf_Die* var, Dwarf_Addr* out) {
  Dwarf_Attribute attr;
  if (!dwarf_attr(var, DW_AT_location, &attr)) return false;
  Dwarf_Op* expr = nullptr;
  size_t len = 0;
  if (dwarf_getlocation(&attr, &expr, &len) != 0 || len != 1 || expr[0].atom != DW_OP_addr) return false;
  *out = expr[0].number;
  return true;
}

void index_scope(Dwarf_Die* scope, VariableIndex& idx, int depth) {
  Dwarf_Die child;
  if (depth > 8 || dwarf_child(scope, &child) != 0) return;
  do {
    int tag = dwarf_tag(&child);
    Dwarf_Addr a;
    if (tag == DW_TAG_variable && static_address(&child, &a)) idx.emplace(a, dwarf_dieoffset(&child));
    else if (tag == DW_TAG_namespace || tag == DW_TAG_subprogram || tag == DW_TAG_lexical_block)
      index_scope(&child, idx, depth + 1);  // function-local statics live under their subprogram
  } while (dwarf_siblingof(&child, &child) == 0);
}

const VariableIndex& variables_of(Dwarf* dw) {
  static std::mutex mu;
  static std::map<Dwarf*, VariableIndex> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(dw);
  if (it != cache.end()) return it->second;
  VariableIndex& idx = cache[dw];
  Dwarf_Off off = 0, next = 0;
  size_t hsize = 0;
  while (dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    if (dwarf_offdie(dw, off + hsize, &cu)) index_scope(&cu, idx, 0);
    off = next;
  }
  return idx;
}

bool type_of(Dwarf_Die* die, Dwarf_Die* out) {
  Dwarf_Attribute attr;
  return dwarf_attr_integrate(die, DW_AT_type, &attr) && dwarf_formref_die(&attr, out);
}

// Strips typedefs and cv/atomic qualifiers.
bool strip(Dwarf_Die* t) {
  for (int i = 0; i < 16; ++i) {
    int tag = dwarf_tag(t);
    if (tag != DW_TAG_typedef && tag != DW_TAG_const_type && tag != DW_TAG_volatile_type &&
        tag != DW_TAG_atomic_type && tag != DW_TAG_restrict_type)
      return true;
    if (!type_of(t, t)) return false;
  }
  return false;
}

int64_t type_size(Dwarf_Die* t) {
  Dwarf_Word size = 0;
  Dwarf_Die s = *t;
  if (!strip(&s) || dwarf_aggregate_size(&s, &size) != 0) return -1;
  return static_cast<int64_t>(size);
}

// A Rust type name without its module paths, as the program writes it:
// "Mutex<std::collections::hash::map::HashMap<alloc::string::String, u64>>" is
// "Mutex<HashMap<String, u64>>". Only lower-case path segments (modules) are dropped.
std::string rust_short_type_name(std::string_view name) {
  std::string out;
  auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  for (size_t i = 0; i < name.size();) {
    if (!ident(name[i])) {
      out += name[i++];
      continue;
    }
    size_t j = i;
    while (j < name.size() && ident(name[j])) ++j;
    const bool module = (std::islower(static_cast<unsigned char>(name[i])) || name[i] == '_') &&
                        name.substr(j, 2) == "::";
    if (module) {
      i = j + 2;
    } else {
      out.append(name.substr(i, j - i));
      i = j;
    }
  }
  return out;
}

// For a Rust lock type (a struct named Mutex<..>, RwLock<..> or ReentrantMutex<..> with
// an UnsafeCell member `data`, as std's and lock_api's are), the offset of `data`; -1
// for any other type. The lock's own state is the bytes before it.
int64_t rust_lock_data_offset(Dwarf_Die* t) {
  const char* name = dwarf_diename(t);
  if (!name || !(absl::StartsWith(name, "Mutex<") || absl::StartsWith(name, "RwLock<") ||
                 absl::StartsWith(name, "ReentrantMutex<")))
    return -1;
  Dwarf_Die m;
  if (dwarf_child(t, &m) != 0) return -1;
  do {
    if (dwarf_tag(&m) != DW_TAG_member) continue;
    const char* mname = dwarf_diename(&m);
    Dwarf_Die mtype;
    if (!mname || std::string_view(mname) != "data" || !type_of(&m, &mtype)) continue;
    const char* tname = dwarf_diename(&mtype);
    Dwarf_Attribute a;
    Dwarf_Word loc = 0;
    if (!tname || !absl::StartsWith(tname, "UnsafeCell<") ||
        dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &a), &loc) != 0)
      return -1;
    return static_cast<int64_t>(loc);
  } while (dwarf_siblingof(&m, &m) == 0);
  return -1;
}

// Appends the member path of byte `off` inside type `t` to `out`.
void walk(Dwarf_Die t, uint64_t off, std::string& out, int depth) {
  if (depth > 12 || !strip(&t)) return;
  int tag = dwarf_tag(&t);
  if (tag == DW_TAG_array_type) {
    Dwarf_Die elem;
    if (!type_of(&t, &elem)) return;
    std::vector<uint64_t> dims;
    Dwarf_Die sub;
    if (dwarf_child(&t, &sub) == 0) {
      do {
        if (dwarf_tag(&sub) != DW_TAG_subrange_type) continue;
        Dwarf_Attribute a;
        Dwarf_Word v = 0;
        if (dwarf_formudata(dwarf_attr(&sub, DW_AT_count, &a), &v) == 0) dims.push_back(v);
        else if (dwarf_formudata(dwarf_attr(&sub, DW_AT_upper_bound, &a), &v) == 0) dims.push_back(v + 1);
        else dims.push_back(0);  // flexible or unknown bound
      } while (dwarf_siblingof(&sub, &sub) == 0);
    }
    int64_t esize = type_size(&elem);
    if (esize <= 0) return;
    if (dims.empty()) dims.push_back(0);
    for (size_t i = 0; i < dims.size(); ++i) {
      uint64_t stride = static_cast<uint64_t>(esize);
      for (size_t j = i + 1; j < dims.size(); ++j) stride *= dims[j] ? dims[j] : 1;
      absl::StrAppend(&out, "[", off / stride, "]");
      off %= stride;
    }
    walk(elem, off, out, depth + 1);
    return;
  }
  if (tag == DW_TAG_structure_type || tag == DW_TAG_class_type || tag == DW_TAG_union_type) {
    // A Rust lock (std's or lock_api's Mutex / RwLock / ReentrantMutex) holds its data in
    // an UnsafeCell member `data`: a byte outside it is the lock's own state (std's futex
    // word, parking_lot's RawMutex), named as the lock, as the program wrote it.
    if (const int64_t data = rust_lock_data_offset(&t); data >= 0 && off < static_cast<uint64_t>(data)) {
      if (off) absl::StrAppend(&out, "+", off);
      return;
    }
    Dwarf_Die m;
    if (dwarf_child(&t, &m) != 0) return;
    do {
      int mt = dwarf_tag(&m);
      if (mt != DW_TAG_member && mt != DW_TAG_inheritance) continue;
      Dwarf_Attribute a;
      Dwarf_Word loc = 0;
      if (dwarf_formudata(dwarf_attr(&m, DW_AT_data_member_location, &a), &loc) != 0) {
        if (tag != DW_TAG_union_type) continue;
        loc = 0;
      }
      Dwarf_Die mtype;
      if (!type_of(&m, &mtype)) continue;
      int64_t msize = type_size(&mtype);
      if (msize <= 0 || off < loc || off >= loc + static_cast<uint64_t>(msize)) continue;
      const char* name = dwarf_diename(&m);
      // Library internals (std::atomic's _M_i, __owner) say nothing to the user: stop there.
      if (mt == DW_TAG_member && name && (absl::StartsWith(name, "_M_") || absl::StartsWith(name, "__"))) {
        if (off - loc) absl::StrAppend(&out, "+", off - loc);
        return;
      }
      if (mt == DW_TAG_member && name) absl::StrAppend(&out, ".", name);
      walk(mtype, off - loc, out, depth + 1);
      return;
    } while (dwarf_siblingof(&m, &m) == 0);
    absl::StrAppend(&out, "+", off);  // padding
    return;
  }
  if (off) absl::StrAppend(&out, "+", off);
}

std::string base_name(const std::string& symbol_name) {
  auto plus = symbol_name.rfind('+');
  return plus == std::string::npos ? symbol_name : symbol_name.substr(0, plus);
}

}  // namespace

std::string data_member_name(Symbolizer& sym, uint64_t addr) {
  DataLocation d = sym.data(addr);
  if (d.region != "global" || d.name.empty() || d.symbol_start == 0) return "";
  Dwfl_Module* mod = sym.dwfl() ? dwfl_addrmodule(sym.dwfl(), addr) : nullptr;
  if (!mod) return "";
  Dwarf_Addr bias = 0;
  Dwarf* dw = dwfl_module_getdwarf(mod, &bias);
  if (!dw) return "";
  const VariableIndex& vars = variables_of(dw);
  auto it = vars.find(d.symbol_start - bias);
  if (it == vars.end()) return "";
  Dwarf_Die var, type;
  if (!dwarf_offdie(dw, it->second, &var) || !type_of(&var, &type)) return "";
  std::string out = base_name(d.name);
  walk(type, addr - d.symbol_start, out, 0);
  return out;
}

namespace {

// Whether `var` (a variable or parameter) lives in DWARF register `reg` at `pc` (unbiased).
bool located_in_register(Dwarf_Die* var, Dwarf_Addr pc, int reg) {
  Dwarf_Attribute attr;
  if (!dwarf_attr_integrate(var, DW_AT_location, &attr)) return false;
  Dwarf_Op* expr = nullptr;
  size_t len = 0;
  if (dwarf_getlocation_addr(&attr, pc, &expr, &len, 1) != 1 || len != 1) return false;
  return expr[0].atom == DW_OP_reg0 + reg || (expr[0].atom == DW_OP_regx && expr[0].number == static_cast<Dwarf_Word>(reg));
}

// dwarf_getscopes(cu, pc) once per instruction (`pc` unbiased, `key` the process's
// address): it walks the CU's DIE tree, and pointee_member_name runs per memory
// sample, on the agent's drain thread while profiling and again in the analysis.
const std::vector<Dwarf_Die>& scopes_at(Symbolizer& sym, Dwarf_Die* cu, Dwarf_Addr pc, uint64_t key) {
  using ScopeCache = std::unordered_map<uint64_t, std::vector<Dwarf_Die>>;
  if (!sym.naming_slot) sym.naming_slot = std::make_shared<ScopeCache>();
  auto& cache = *static_cast<ScopeCache*>(sym.naming_slot.get());
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes(cu, pc, &scopes);
  // Rust CUs: dwarf_getscopes finds nothing there; the innermost scope's concrete
  // parents instead (the symbolizer's inline chains come from the same walk).
  if (Dwarf_Die innermost; n <= 0 && find_innermost_scope(cu, pc, &innermost)) {
    free(scopes);
    scopes = nullptr;
    n = dwarf_getscopes_die(&innermost, &scopes);
  }
  std::vector<Dwarf_Die> v(scopes, scopes + std::max(n, 0));
  free(scopes);
  return cache.emplace(key, std::move(v)).first->second;
}

// The variables and parameters in `scopes` (those at `pc`) that live in `reg`, innermost
// scope first (a `void* p` and the `T* args = p` made from it often share the register).
std::vector<Dwarf_Die> variables_in_register(std::vector<Dwarf_Die> scopes, Dwarf_Addr pc, int reg) {
  std::vector<Dwarf_Die> out;
  for (Dwarf_Die& scope : scopes) {
    Dwarf_Die child;
    if (dwarf_child(&scope, &child) != 0) continue;
    do {
      const int tag = dwarf_tag(&child);
      if ((tag == DW_TAG_variable || tag == DW_TAG_formal_parameter) && located_in_register(&child, pc, reg))
        out.push_back(child);
    } while (dwarf_siblingof(&child, &child) == 0);
  }
  return out;
}

// The member path of byte `offset` of what `var` points to, "" when it is not a pointer
// to a type with members.
std::string pointee_path(Dwarf_Die var, uint64_t offset) {
  Dwarf_Die type;
  if (!type_of(&var, &type) || !strip(&type)) return "";
  const int tag = dwarf_tag(&type);
  if (tag != DW_TAG_pointer_type && tag != DW_TAG_reference_type && tag != DW_TAG_rvalue_reference_type) return "";
  Dwarf_Die pointee;
  if (!type_of(&type, &pointee)) return "";
  // A typedef'd anonymous struct (C's `typedef struct {...} worker_args;`) has its name
  // on the typedef: take the first name while peeling.
  const char* type_name = nullptr;
  for (int i = 0; i < 16 && !type_name; ++i) {
    type_name = dwarf_diename(&pointee);
    const int t = dwarf_tag(&pointee);
    if (t != DW_TAG_typedef && t != DW_TAG_const_type && t != DW_TAG_volatile_type && t != DW_TAG_atomic_type) break;
    if (!type_name && !type_of(&pointee, &pointee)) return "";
  }
  if (!strip(&pointee)) return "";
  const int ptag = dwarf_tag(&pointee);
  if (ptag != DW_TAG_structure_type && ptag != DW_TAG_class_type && ptag != DW_TAG_union_type) return "";
  const int64_t size = type_size(&pointee);
  const char* var_name = dwarf_diename(&var);
  if (size <= 0 || !var_name) return "";
  // Named by the type, as the user finds it in their code, and by the variable that
  // pointed at it here; an element past the one pointed to (p[i].x with i in a
  // register) is [+i].
  const uint64_t element = offset / static_cast<uint64_t>(size);
  std::string out = type_name ? type_name : "?";
  Dwarf_Die cu;
  if (type_name && dwarf_diecu(&var, &cu, nullptr, nullptr) && dwarf_srclang(&cu) == DW_LANG_Rust)
    out = rust_short_type_name(out);
  if (element) absl::StrAppend(&out, "[+", element, "]");
  walk(pointee, offset % static_cast<uint64_t>(size), out, 0);
  if (std::string_view(var_name) != "this") absl::StrAppend(&out, " (via ", var_name, ")");
  return out;
}

}  // namespace

namespace {

// A location that is one register-based operation: its register and offset.
bool register_based(const Dwarf_Op& op, int* reg, int64_t* offset) {
  if (op.atom >= DW_OP_breg0 && op.atom <= DW_OP_breg31) {
    *reg = op.atom - DW_OP_breg0;
    *offset = static_cast<int64_t>(op.number);
    return true;
  }
  if (op.atom == DW_OP_bregx) {  // libdw's form of a CFA rule "register + offset"
    *reg = static_cast<int>(op.number);
    *offset = static_cast<int64_t>(op.number2);
    return true;
  }
  if (op.atom >= DW_OP_reg0 && op.atom <= DW_OP_reg31) {
    *reg = op.atom - DW_OP_reg0;
    *offset = 0;
    return true;
  }
  return false;
}

// A function's DW_AT_frame_base at `pc` (unbiased) as a register and an offset: a
// register (+ offset), or the CFA by the module's call-frame info.
std::optional<std::pair<int, int64_t>> frame_base_rule(Dwfl_Module* mod, Dwarf_Die* subprogram, Dwarf_Addr pc,
                                                       Dwarf_Addr bias) {
  Dwarf_Attribute attr;
  Dwarf_Op* expr = nullptr;
  size_t len = 0;
  if (!dwarf_attr_integrate(subprogram, DW_AT_frame_base, &attr) ||
      dwarf_getlocation_addr(&attr, pc, &expr, &len, 1) != 1 || len != 1)
    return std::nullopt;
  int reg = 0;
  int64_t off = 0;
  if (expr[0].atom == DW_OP_call_frame_cfa) {
    Dwarf_Addr cfi_bias = 0;
    Dwarf_CFI* cfi = dwfl_module_eh_cfi(mod, &cfi_bias);
    Dwarf_Frame* frame = nullptr;
    if (!cfi || dwarf_cfi_addrframe(cfi, pc + bias - cfi_bias, &frame) != 0) return std::nullopt;
    Dwarf_Op* cfa = nullptr;
    size_t n = 0;
    const bool ok = dwarf_frame_cfa(frame, &cfa, &n) == 0 && n == 1 && register_based(cfa[0], &reg, &off);
    free(frame);
    if (!ok) return std::nullopt;
  } else if (!register_based(expr[0], &reg, &off)) {
    return std::nullopt;
  }
  if (reg < 0 || reg >= kNumRegs) return std::nullopt;
  return std::make_pair(reg, off);
}

// The frame base of the innermost function in `scopes` that has one.
std::optional<std::pair<int, int64_t>> scopes_frame_base(Dwfl_Module* mod, std::vector<Dwarf_Die>& scopes,
                                                         Dwarf_Addr pc, Dwarf_Addr bias) {
  for (Dwarf_Die& scope : scopes)
    if (dwarf_tag(&scope) == DW_TAG_subprogram)
      if (auto rule = frame_base_rule(mod, &scope, pc, bias)) return rule;
  return std::nullopt;
}

// Calls f(var, offset) for each variable or parameter of `scopes` (innermost first) that
// lives in a stack slot at `pc`, frame base + offset (DW_OP_fbreg), until f returns true.
template <typename F>
void for_each_stack_variable(std::vector<Dwarf_Die>& scopes, Dwarf_Addr pc, F f) {
  for (Dwarf_Die& scope : scopes) {
    Dwarf_Die child;
    if (dwarf_child(&scope, &child) != 0) continue;
    do {
      const int tag = dwarf_tag(&child);
      Dwarf_Attribute attr;
      Dwarf_Op* expr = nullptr;
      size_t len = 0;
      if ((tag != DW_TAG_variable && tag != DW_TAG_formal_parameter) ||
          !dwarf_attr_integrate(&child, DW_AT_location, &attr) ||
          dwarf_getlocation_addr(&attr, pc, &expr, &len, 1) != 1 || len != 1 || expr[0].atom != DW_OP_fbreg)
        continue;
      if (f(child, static_cast<int64_t>(expr[0].number))) return;
    } while (dwarf_siblingof(&child, &child) == 0);
  }
}

// A pointer variable in a stack slot (DW_OP_fbreg) whose value is `base_value`.
std::string stack_pointee_name(Dwfl_Module* mod, std::vector<Dwarf_Die> scopes, Dwarf_Addr pc, Dwarf_Addr bias,
                               const SampleFrame& frame, uint64_t base_value, uint64_t offset) {
  const auto rule = scopes_frame_base(mod, scopes, pc, bias);
  if (!rule) return "";
  const uint64_t fb = (*frame.regs)[rule->first] + rule->second;
  std::string out;
  for_each_stack_variable(scopes, pc, [&](Dwarf_Die& var, int64_t slot) {
    const auto value = frame.read_word(fb + slot);
    if (!value || *value != base_value) return false;
    out = pointee_path(var, offset);
    return !out.empty();
  });
  return out;
}

// The module, CU scopes and bias of `pc`; false without DWARF for it.
bool scopes_of(Symbolizer& sym, uint64_t pc, Dwfl_Module** mod, Dwarf_Addr* bias,
               const std::vector<Dwarf_Die>** scopes) {
  *mod = sym.dwfl() ? dwfl_addrmodule(sym.dwfl(), pc) : nullptr;
  *bias = 0;
  Dwarf_Die* cu = *mod ? dwfl_module_addrdie(*mod, pc, bias) : nullptr;
  if (!cu) return false;
  *scopes = &scopes_at(sym, cu, pc - *bias, pc);
  return true;
}

}  // namespace

std::string pointee_member_name(Symbolizer& sym, uint64_t pc, int dwarf_reg, uint64_t offset, const SampleFrame* frame,
                                uint64_t base_value, bool outermost) {
  if (dwarf_reg < 0 || dwarf_reg > 15) return "";
  Dwfl_Module* mod = nullptr;
  Dwarf_Addr bias = 0;
  const std::vector<Dwarf_Die>* scopes_p = nullptr;
  if (!scopes_of(sym, pc, &mod, &bias, &scopes_p)) return "";
  const std::vector<Dwarf_Die>& scopes = *scopes_p;
  std::vector<Dwarf_Die> vars = variables_in_register(scopes, pc - bias, dwarf_reg);
  if (outermost) {
    // Inside inlined code dwarf_getscopes continues with the inlined function's abstract
    // scopes, not the function it was inlined into: add that function's own scopes (the
    // concrete parents of the outermost inlined_subroutine), whose variables are the user's.
    for (auto it = scopes.rbegin(); it != scopes.rend(); ++it) {
      if (dwarf_tag(const_cast<Dwarf_Die*>(&*it)) != DW_TAG_inlined_subroutine) continue;
      Dwarf_Die* parents = nullptr;
      const int n = dwarf_getscopes_die(const_cast<Dwarf_Die*>(&*it), &parents);
      if (n > 1) {
        std::vector<Dwarf_Die> outer(parents + 1, parents + n);
        for (const Dwarf_Die& var : variables_in_register(outer, pc - bias, dwarf_reg)) vars.push_back(var);
      }
      free(parents);
      break;
    }
    std::reverse(vars.begin(), vars.end());
  }
  for (const Dwarf_Die& var : vars)
    if (std::string name = pointee_path(var, offset); !name.empty()) return name;
  if (frame && frame->regs && frame->read_word)
    return stack_pointee_name(mod, scopes, pc - bias, bias, *frame, base_value, offset);
  return "";
}

std::string rust_self_pointee_name(Symbolizer& sym, uint64_t fn_addr, uint64_t offset) {
  Dwfl_Module* mod = nullptr;
  Dwarf_Addr bias = 0;
  const std::vector<Dwarf_Die>* scopes = nullptr;
  if (!scopes_of(sym, fn_addr, &mod, &bias, &scopes)) return "";
  for (const Dwarf_Die& scope : *scopes) {
    Dwarf_Die fn = scope;
    if (dwarf_tag(&fn) != DW_TAG_subprogram) continue;
    Dwarf_Die cu;
    if (!dwarf_diecu(&fn, &cu, nullptr, nullptr) || dwarf_srclang(&cu) != DW_LANG_Rust) return "";
    Dwarf_Die child;
    if (dwarf_child(&fn, &child) != 0) return "";
    do {
      if (dwarf_tag(&child) != DW_TAG_formal_parameter) continue;
      const char* name = dwarf_diename(&child);
      if (!name || std::string_view(name) != "self") return "";
      std::string out = pointee_path(child, offset);
      const std::string via = " (via self)";
      if (out.size() > via.size() && out.compare(out.size() - via.size(), via.size(), via) == 0)
        out.resize(out.size() - via.size());
      return out;
    } while (dwarf_siblingof(&child, &child) == 0);
    return "";
  }
  return "";
}

std::string stack_slot_pointee_name(Symbolizer& sym, uint64_t pc, int base_reg, int64_t disp, uint64_t offset) {
  Dwfl_Module* mod = nullptr;
  Dwarf_Addr bias = 0;
  const std::vector<Dwarf_Die>* scopes_p = nullptr;
  if (!scopes_of(sym, pc, &mod, &bias, &scopes_p)) return "";
  std::vector<Dwarf_Die> scopes = *scopes_p;
  const auto rule = scopes_frame_base(mod, scopes, pc - bias, bias);
  if (!rule || rule->first != base_reg) return "";
  const int64_t slot = disp - rule->second;  // from the frame base
  std::string out;
  for_each_stack_variable(scopes, pc - bias, [&](Dwarf_Die& var, int64_t at) {
    if (at != slot) return false;
    out = pointee_path(var, offset);
    return !out.empty();
  });
  return out;
}

PointeeSlots pointee_slots(Symbolizer& sym, uint64_t pc, int dwarf_reg) {
  PointeeSlots out;
  Dwfl_Module* mod = nullptr;
  Dwarf_Addr bias = 0;
  const std::vector<Dwarf_Die>* scopes_p = nullptr;
  if (dwarf_reg < 0 || dwarf_reg > 15 || !scopes_of(sym, pc, &mod, &bias, &scopes_p)) return out;
  std::vector<Dwarf_Die> scopes = *scopes_p;
  // pointee_path is "" or not whatever the offset: 0 stands for any.
  for (const Dwarf_Die& var : variables_in_register(scopes, pc - bias, dwarf_reg))
    if (!pointee_path(var, 0).empty()) {
      out.in_register = true;
      return out;
    }
  const auto rule = scopes_frame_base(mod, scopes, pc - bias, bias);
  if (!rule) return out;
  out.frame_base_reg = rule->first;
  out.frame_base_offset = rule->second;
  for_each_stack_variable(scopes, pc - bias, [&](Dwarf_Die& var, int64_t slot) {
    if (!pointee_path(var, 0).empty()) out.slots.push_back(slot);
    return false;
  });
  return out;
}

std::string describe_data(Symbolizer& sym, uint64_t addr) {
  std::string member = data_member_name(sym, addr);
  if (!member.empty()) return member;
  DataLocation d = sym.data(addr);
  if (!d.name.empty()) return d.name;
  return d.region_detail.empty() ? d.region : d.region_detail;
}

}  // namespace ccprof::profiler
