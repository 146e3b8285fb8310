// hush.h compiles as C++ and links from C++: a desktop C++ app can include it directly.
#include "hush.h"

#include <cstdio>
#include <memory>
#include <string>

namespace {
struct FreeString {
    void operator()(char *text) const { hush_string_free(text); }
};
using OwnedString = std::unique_ptr<char, FreeString>;
}  // namespace

int main() {
    std::string version = hush_version();
    char *raw = nullptr;
    int32_t code = hush_client_whoami(nullptr, &raw);
    OwnedString out(raw);
    if (version.empty() || code != HUSH_ERR_INVALID_INPUT || out != nullptr ||
        hush_last_error_message() == nullptr) {
        std::fprintf(stderr, "FAIL: unexpected result %d\n", static_cast<int>(code));
        return 1;
    }
    std::printf("C++: libhush_ffi %s, error path: %s\n", version.c_str(), hush_last_error_message());
    return 0;
}
