// A file's text as passages: the unit the index stores, ranks and hands the model (about 1.5 KB, so a
// question about page 30 of a long PDF finds the part that answers it).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace whale::search {

// Passages aim at this size and never pass kMaxPassageBytes (UTF-8 bytes; a CJK character is 3).
constexpr size_t kPassageBytes = 1500;
constexpr size_t kMaxPassageBytes = 2400;

// At most `limit` bytes of `s` without splitting a UTF-8 sequence: the length to keep.
size_t utf8_cut(std::string_view s, size_t limit);

// Paragraphs (separated by blank lines, trimmed) packed greedily into passages of about
// kPassageBytes; a paragraph over kMaxPassageBytes is cut after its last sentence end (". ", "! ",
// "? ", a newline, 。！？；) in the second half of a piece, else after a space, else at a character
// boundary. Passages keep "\n\n" between the paragraphs they join.
std::vector<std::string> split_passages(std::string_view text);

}  // namespace whale::search
