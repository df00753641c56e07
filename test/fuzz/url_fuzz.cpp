// url_fuzz: arbitrary text as a URL (parse_url) and as a redirect's
// Location against a fixed base (resolve_redirect); what they accept must
// parse again to the same result.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "http/request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  brake::http::Url url;
  std::string why;
  brake::http::parse_url(text, url, why);
  std::string next;
  if (brake::http::resolve_redirect("http://example.com:8080/a/b?c=d", text, next, why)) {
    brake::http::Url again;
    if (!brake::http::parse_url(next, again, why)) abort(); // a redirect must lead to a URL we can parse
  }
  return 0;
}
