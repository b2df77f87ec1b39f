// Found by fuzz_records: after a refused record, ParseRecords must leave
// exactly the records before it in `out` (cpp/include/ebgan/records.h). A
// record whose difficulty level is not an integer used to be refused after
// its label was stored, leaving `labels` one entry longer than `rows`.
#include <cstdio>
#include <string>

#include "ebgan/records.h"

int main() {
  const std::string good =
      "0,tcp,http,SF,215,4512,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,3,5,0,0,0,0,1,0,0.4,12,230,1,0,"
      "0.08,0.02,0,0,0,0";
  const std::string text = good + ",normal,21\n" + good + ",normal,hard\n";

  ebgan::ParsedRecords parsed;
  ebgan::RecordIssue refusal;
  const ebgan::Status s = ebgan::ParseRecords(text, 1, &parsed, &refusal);
  std::printf("status %d, line %llu, field %d: %s\n", int(s.code()),
              static_cast<unsigned long long>(refusal.line), refusal.field,
              refusal.problem.c_str());
  std::printf("rows %zu, labels %zu, difficulty %zu\n", parsed.rows, parsed.labels.size(),
              parsed.difficulty.size());

  const bool refused_right = !s.ok() && refusal.line == 2 && refusal.field == 42;
  const bool partial_exact =
      parsed.rows == 1 && parsed.labels.size() == 1 && parsed.difficulty.size() == 1;
  return refused_right && partial_exact ? 0 : 1;
}
