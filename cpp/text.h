// text.h — the one home of what makes user-supplied text safe to show: UTF-8 validation and
// the one-line form of an error message.
//
// Errors name what the user gave (a path, a spec, a metadata key), which may hold control
// characters, bytes that are not UTF-8, or be very long. Every error message of the core is
// passed through one_line(), so that it reaches Python as valid UTF-8 (pybind11 decodes
// messages strictly) and reaches the terminal as one printable, bounded line.
//
// Invariant: one_line(t) is valid UTF-8, holds no byte below 0x20 nor 0x7f, and is at most
// kLongestMessage bytes plus the elision marker.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace allocbench {

inline constexpr size_t kLongestMessage = 300;

// Where the first invalid UTF-8 sequence starts, or npos. Strict, as Python's decoder: no
// overlong forms, no surrogates, nothing above U+10FFFF.
size_t invalid_utf8_at(std::string_view text);

// The text with control characters and bytes that are not UTF-8 written as \xNN, and the
// middle elided when it is longer than kLongestMessage (both ends kept: the start names the
// field, the end says what is allowed).
std::string one_line(std::string_view text);

}  // namespace allocbench
