#pragma once
// A CBOR (RFC 8949) writer for the recording's bulk arrays (stack copies, memory
// samples, long syscalls): written straight from the structs instead of building a JSON
// document of them first. A minute of a busy server is ~250k such records; building and
// freeing their JSON objects cost ~1.2 s of CPU at the window's end, the bytes ~0.1 s.
// Heads use the shortest form, as nlohmann::json::to_cbor does; the reader takes either.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace ccprof::model {

class CborWriter {
 public:
  explicit CborWriter(std::string& out) : out_(out) {}
  void uint(uint64_t v) { head(0, v); }
  void sint(int64_t v) {
    if (v >= 0)
      head(0, static_cast<uint64_t>(v));
    else
      head(1, static_cast<uint64_t>(-(v + 1)));
  }
  void boolean(bool b) { out_.push_back(b ? '\xf5' : '\xf4'); }
  void text(std::string_view s) {
    head(3, s.size());
    out_.append(s);
  }
  void bytes(const uint8_t* p, size_t n) {
    head(2, n);
    if (n) out_.append(reinterpret_cast<const char*>(p), n);
  }
  void array(uint64_t n) { head(4, n); }
  void map(uint64_t n) { head(5, n); }
  // A whole item encoded elsewhere (nlohmann::json::to_cbor of a small value).
  void raw(std::string_view item) { out_.append(item); }

 private:
  void head(uint8_t major, uint64_t v) {
    const char m = static_cast<char>(major << 5);
    if (v < 24) {
      out_.push_back(static_cast<char>(m | static_cast<char>(v)));
    } else if (v <= 0xff) {
      out_.push_back(static_cast<char>(m | 24));
      big_endian(v, 1);
    } else if (v <= 0xffff) {
      out_.push_back(static_cast<char>(m | 25));
      big_endian(v, 2);
    } else if (v <= 0xffffffffu) {
      out_.push_back(static_cast<char>(m | 26));
      big_endian(v, 4);
    } else {
      out_.push_back(static_cast<char>(m | 27));
      big_endian(v, 8);
    }
  }
  void big_endian(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string& out_;
};

}  // namespace ccprof::model
