// sse_test.cpp: the server-sent-event decoder (llm/sse.h): the standard's
// line ends, fields and dispatch rules, the same events however the body
// is cut into chunks, the end of a stream mid-event, and its limits.
#include <string>
#include <vector>

#include "llm/sse.h"
#include "test_util.h"

namespace llm = brake::llm;

namespace {

// The events as "type|data|id" lines.
std::string show(const std::vector<llm::SseEvent>& events) {
  std::string out;
  for (const auto& e : events) out += e.type + "|" + e.data + "|" + e.id + "\n";
  return out;
}

// Decodes `body` fed in pieces of `piece` bytes (0: all at once).
std::string decode(const std::string& body, size_t piece = 0, bool* boundary = nullptr) {
  llm::SseDecoder d;
  std::vector<llm::SseEvent> events;
  if (piece == 0) {
    CHECK(d.feed(body, events));
  } else {
    for (size_t i = 0; i < body.size(); i += piece) CHECK(d.feed(std::string_view(body).substr(i, piece), events));
  }
  if (boundary) *boundary = d.at_boundary();
  return show(events);
}

void expect(const std::string& body, const std::string& want) {
  for (size_t piece : {size_t(0), size_t(1), size_t(2), size_t(3), size_t(7)}) {
    std::string got = decode(body, piece);
    if (got != want) {
      fprintf(stderr, "body %s in pieces of %zu:\n    got:      %s\n    expected: %s\n", body.c_str(), piece,
              got.c_str(), want.c_str());
      g_failures++;
    }
  }
}

} // namespace

// What providers send: OpenAI's unnamed data events, Anthropic's named ones.
BRAKE_TEST(provider_shapes) {
  expect("data: {\"a\":1}\n\ndata: [DONE]\n\n", "|{\"a\":1}|\n|[DONE]|\n");
  expect("event: message_start\ndata: {\"type\":\"message_start\"}\n\nevent: ping\ndata: {}\n\n",
         "message_start|{\"type\":\"message_start\"}|\nping|{}|\n");
}

BRAKE_TEST(line_ends_crlf_lf_cr) {
  expect("data: a\r\n\r\ndata: b\n\ndata: c\r\rdata: d\r\n\n", "|a|\n|b|\n|c|\n|d|\n");
  // A CR then an LF in the next chunk is one line end, not two.
  llm::SseDecoder d;
  std::vector<llm::SseEvent> events;
  CHECK(d.feed("data: x\r", events));
  CHECK(d.feed("\ndata: y\r\n", events));
  CHECK(events.empty());
  CHECK(d.feed("\r", events));
  CHECK(d.feed("\n", events)); // the LF of that CRLF: no third line end
  CHECK(show(events) == "|x\ny|\n");
}

BRAKE_TEST(fields_and_dispatch) {
  expect("data: one\ndata: two\n\n", "|one\ntwo|\n");                 // lines joined with \n
  expect("data:no space\ndata:  two spaces\n\n", "|no space\n two spaces|\n"); // one space dropped
  expect("data\n\n", "||\n");                                        // no colon: an empty value
  expect("data:\ndata:\n\n", "|\n|\n");
  expect(": a comment\ndata: x\n: another\n\n", "|x|\n");
  expect("event: a\n\ndata: x\n\n", "|x|\n");           // no data: no event, and the name is reset
  expect("event: a\ndata: x\n\ndata: y\n\n", "a|x|\n|y|\n");
  expect("id: 7\ndata: x\n\ndata: y\n\n", "|x|7\n|y|7\n"); // the last id carries over
  static const char nul_id[] = "id: 8\ndata: x\n\nid: 9\0z\ndata: y\n\n";
  expect(std::string(nul_id, sizeof nul_id - 1), "|x|8\n|y|8\n"); // an id holding NUL is ignored
  expect("retry: 100\nfoo: bar\ndata: x\n\n", "|x|\n");
  expect("event:e\ndata:x:y\n\n", "e|x:y|\n"); // only the first colon splits
  expect("\n\n\ndata: x\n\n\n", "|x|\n");
}

BRAKE_TEST(byte_order_mark_only_at_the_start) {
  expect("\xEF\xBB\xBF" "data: x\n\n", "|x|\n");
  // Not a mark where it is not first; a partial mark is text (a field name).
  expect("data: \xEF\xBB\xBFx\n\n", "|\xEF\xBB\xBFx|\n");
  expect("\xEF\xBB" "data: x\n\n", "");
}

BRAKE_TEST(stream_end_mid_event) {
  bool boundary = false;
  CHECK(decode("data: x\n\n", 0, &boundary) == "|x|\n" && boundary);
  CHECK(decode("data: x\n\ndata: y\n", 0, &boundary) == "|x|\n" && !boundary); // y never dispatched
  CHECK(decode("data: x\n\ndata: y", 0, &boundary) == "|x|\n" && !boundary);
  CHECK(decode("data: x\n\n: trailing comment\n", 0, &boundary) == "|x|\n" && boundary);
  CHECK(decode("", 0, &boundary).empty() && boundary);
  CHECK(decode("\xEF", 0, &boundary).empty() && !boundary);
}

BRAKE_TEST(limits_stop_the_decoder) {
  llm::SseDecoder d(64);
  std::vector<llm::SseEvent> events;
  CHECK(d.feed("data: ok\n\n", events));
  CHECK(!d.feed(std::string(100, 'x'), events)); // a line with no end past the limit
  CHECK(d.error().find("line") != std::string::npos);
  CHECK(!d.feed("data: more\n\n", events));        // stopped for good
  CHECK(events.size() == 1 && d.buffered() == 0 && !d.at_boundary());
  llm::SseDecoder e(64);
  events.clear();
  std::string many;
  for (int i = 0; i < 10; i++) many += "data: 0123456789\n"; // each line short, the data long
  CHECK(!e.feed(many, events));
  CHECK(e.error().find("data") != std::string::npos && events.empty());
}

int main(int argc, char** argv) {
  const TestCase cases[] = {
      TEST_ENTRY(provider_shapes),
      TEST_ENTRY(line_ends_crlf_lf_cr),
      TEST_ENTRY(fields_and_dispatch),
      TEST_ENTRY(byte_order_mark_only_at_the_start),
      TEST_ENTRY(stream_end_mid_event),
      TEST_ENTRY(limits_stop_the_decoder),
  };
  return run_tests(cases, sizeof cases / sizeof cases[0], argc, argv);
}
