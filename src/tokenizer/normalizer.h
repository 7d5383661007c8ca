// Normalizers the supported tokenizer.json files use: Unicode NFC (Qwen) and Sequence.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace whale::tokenizer {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  virtual std::string apply(std::string_view text) const = 0;
};

class NfcNormalizer : public Normalizer {
 public:
  std::string apply(std::string_view text) const override;
};

class SequenceNormalizer : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  std::string apply(std::string_view text) const override;

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

// Unicode Normalization Form C of valid UTF-8 (Unicode 14 data; see unicode_data.cpp).
std::string nfc(std::string_view text);

}  // namespace whale::tokenizer
