// CharTokenizer: nanoGPT-compatible ids, UTF-8 handling and its diagnostics, and the
// validating loader against every corruption of the tokenizer file it promises to name.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tessera/error.h"
#include "tessera/text.h"

#include "text/text_test_util.h"

using Catch::Contains;
using ts::text::CharTokenizer;
using ts::test::TempDir;
using ts::test::read_text;
using ts::test::shakespeare_path;
using ts::test::write_text;

TEST_CASE("CharTokenizer ids are the ranks of the sorted distinct characters", "[text][char]") {
  const CharTokenizer tok = CharTokenizer::fit("banana split\nca");
  REQUIRE(tok.vocab_size() == 11);  // \n, space, a, b, c, i, l, n, p, s, t
  REQUIRE(tok.encode("\n") == std::vector<int32_t>{0});
  REQUIRE(tok.encode(" ") == std::vector<int32_t>{1});
  REQUIRE(tok.encode("abc") == std::vector<int32_t>{2, 3, 4});
  REQUIRE(tok.encode("t") == std::vector<int32_t>{10});
  REQUIRE(tok.encode("") .empty());
  REQUIRE(tok.decode({10, 2, 7}) == "tan");
  REQUIRE(tok.decode({}).empty());
}

TEST_CASE("CharTokenizer decodes UTF-8 into code points and sorts them like Python", "[text][char]") {
  // é U+00E9 (2 bytes), € U+20AC (3 bytes), 😀 U+1F600 (4 bytes).
  const std::string text = "z\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80" "a\xc3\xa9";
  const CharTokenizer tok = CharTokenizer::fit(text);
  REQUIRE(tok.code_points() == std::vector<char32_t>{U'a', U'z', 0xE9, 0x20AC, 0x1F600});
  REQUIRE(tok.encode(text) == std::vector<int32_t>{1, 2, 3, 4, 0, 2});
  REQUIRE(tok.decode(tok.encode(text)) == text);
}

TEST_CASE("CharTokenizer::fit names the byte offset of invalid UTF-8", "[text][char]") {
  REQUIRE_THROWS_WITH(CharTokenizer::fit("ab\xff" "cd"), Contains("not valid UTF-8 at byte offset 2") && Contains("0xff"));
  REQUIRE_THROWS_WITH(CharTokenizer::fit("x\x80"), Contains("byte offset 1"));               // stray continuation
  REQUIRE_THROWS_WITH(CharTokenizer::fit("\xc0\x80"), Contains("byte offset 0"));            // overlong NUL
  REQUIRE_THROWS_WITH(CharTokenizer::fit("ok\xed\xa0\x80"), Contains("byte offset 2"));      // surrogate U+D800
  REQUIRE_THROWS_WITH(CharTokenizer::fit("\xf4\x90\x80\x80"), Contains("byte offset 0"));    // above U+10FFFF
  REQUIRE_THROWS_WITH(CharTokenizer::fit("a\xe2\x82"), Contains("byte offset 1"));           // truncated at the end
  REQUIRE_THROWS_WITH(CharTokenizer::fit("a\xe2\x82z"), Contains("byte offset 1"));          // truncated inside
  REQUIRE_THROWS_WITH(CharTokenizer::fit(""), Contains("empty"));
}

TEST_CASE("CharTokenizer::encode names an unknown character and its offset", "[text][char]") {
  const CharTokenizer tok = CharTokenizer::fit("abc");
  REQUIRE_THROWS_WITH(tok.encode("abd"), Contains("'d' (U+0064)") && Contains("byte offset 2") &&
                                             Contains("not in the vocabulary (3 characters)"));
  REQUIRE_THROWS_WITH(tok.encode("a\nb"), Contains("'\\n' (U+000A)") && Contains("byte offset 1"));
  REQUIRE_THROWS_WITH(tok.encode("a\xc3\xa9"), Contains("U+00E9") && Contains("byte offset 1"));
  REQUIRE_THROWS_WITH(tok.encode(std::string("ab\0", 3)), Contains("U+0000") && Contains("byte offset 2"));
  REQUIRE_THROWS_WITH(tok.encode("ab\xfe"), Contains("not valid UTF-8 at byte offset 2"));
}

TEST_CASE("CharTokenizer::decode rejects ids outside the vocabulary", "[text][char]") {
  const CharTokenizer tok = CharTokenizer::fit("abc");
  REQUIRE_THROWS_WITH(tok.decode({0, 3}), Contains("id 3 at position 1") && Contains("3 characters"));
  REQUIRE_THROWS_WITH(tok.decode({-1}), Contains("id -1 at position 0"));
}

TEST_CASE("CharTokenizer::from_code_points validates its input", "[text][char]") {
  REQUIRE(CharTokenizer::from_code_points({U'a', U'b'}).encode("ba") == std::vector<int32_t>{1, 0});
  REQUIRE_THROWS_WITH(CharTokenizer::from_code_points({U'b', U'a'}), Contains("strictly increasing"));
  REQUIRE_THROWS_WITH(CharTokenizer::from_code_points({U'a', U'a'}), Contains("strictly increasing"));
  REQUIRE_THROWS_WITH(CharTokenizer::from_code_points({0xD800}), Contains("not a Unicode scalar value"));
  REQUIRE_THROWS_WITH(CharTokenizer::from_code_points({}), Contains("empty"));
}

TEST_CASE("CharTokenizer save/load round trip", "[text][char]") {
  TempDir dir;
  const std::string path = dir.file("chars.txt");
  const std::string text = "Hello,\tworld!\n\xc3\xa9\xf0\x9f\x98\x80";
  const CharTokenizer tok = CharTokenizer::fit(text);
  tok.save(path);
  REQUIRE(dir.entries() == std::vector<std::string>{"chars.txt"});  // no temporary file left
  const std::string content = read_text(path);
  REQUIRE(content.rfind("tessera-chars v1 13\nU+0009\nU+000A\nU+0021\n", 0) == 0);
  REQUIRE(content.find("U+1F600\n") != std::string::npos);
  const CharTokenizer back = CharTokenizer::load(path);
  REQUIRE(back.code_points() == tok.code_points());
  REQUIRE(back.encode(text) == tok.encode(text));
}

TEST_CASE("CharTokenizer::load names the file and line of every corruption", "[text][char]") {
  TempDir dir;
  const std::vector<ts::test::CorruptFile> cases = {
      {"", 1, "is empty"},
      {"tessera-chars v1\n", 1, "expected the header"},
      {"tessera-bpe v1 1\nU+0041\n", 1, "expected the header"},
      {"tessera-chars v2 1\nU+0041\n", 1, "expected the header"},
      {"tessera-chars v1 x\nU+0041\n", 1, "expected the header"},
      {"tessera-chars v1 0\n", 1, "positive count"},
      {"tessera-chars v1 1\r\nU+0041\r\n", 1, "expected the header"},
      {"tessera-chars v1 3\nU+0041\nU+0042\n", 4, "truncated: the header promises 3 characters but the file lists 2"},
      {"tessera-chars v1 2\nU+0041\nU+0042", 3, "truncated (the last line has no newline)"},
      {"tessera-chars v1 1\nU+0041\nU+0042\n", 3, "expected the end of the file after 1 characters"},
      {"tessera-chars v1 2\nU+0041\nU+0041\n", 3, "duplicate character 'A' (U+0041) (already on line 2)"},
      {"tessera-chars v1 3\nU+0041\nU+0043\nU+0041\n", 4, "duplicate character 'A' (U+0041) (already on line 2)"},
      {"tessera-chars v1 2\nU+0042\nU+0041\n", 3, "out of order"},
      {"tessera-chars v1 1\nA\n", 2, "expected a character as U+XXXX"},
      {"tessera-chars v1 1\nU+41\n", 2, "expected a character as U+XXXX"},
      {"tessera-chars v1 1\nU+00e9\n", 2, "expected a character as U+XXXX"},
      {"tessera-chars v1 1\nU+D800\n", 2, "expected a character as U+XXXX"},
      {"tessera-chars v1 1\nU+110000\n", 2, "expected a character as U+XXXX"},
      {"tessera-chars v1 1\nU+1234567\n", 2, "expected a character as U+XXXX"},
      {"tessera-chars v1 1\n\n", 2, "expected a character as U+XXXX"},
      {"tessera-chars v1 1\nU+0041 \n", 2, "expected a character as U+XXXX"},
  };
  ts::test::require_load_errors(dir, "CharTokenizer::load", cases,
                                [](const std::string& f) { return CharTokenizer::load(f); });
}

TEST_CASE("CharTokenizer on Tiny Shakespeare matches nanoGPT's vocabulary", "[text][char][real]") {
  const std::string path = shakespeare_path();
  if (path.empty()) {
    WARN("TESSERA_DATA is unset or holds no tinyshakespeare/input.txt; skipping the real-text check");
    return;
  }
  const std::string text = read_text(path);
  REQUIRE(text.size() == 1115394);
  const CharTokenizer tok = CharTokenizer::fit(text);
  REQUIRE(tok.vocab_size() == 65);
  std::string chars;
  for (char32_t c : tok.code_points()) chars.push_back(static_cast<char>(c));
  REQUIRE(chars == "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  // The example from nanoGPT's walkthrough: encode("hii there").
  REQUIRE(tok.encode("hii there") == std::vector<int32_t>{46, 47, 47, 1, 58, 46, 43, 56, 43});
  const std::vector<int32_t> ids = tok.encode(text);
  REQUIRE(ids.size() == text.size());
  REQUIRE(std::vector<int32_t>(ids.begin(), ids.begin() + 6) == std::vector<int32_t>{18, 47, 56, 57, 58, 1});
  REQUIRE(tok.decode(ids) == text);
}
