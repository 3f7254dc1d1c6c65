// Status, StatusOr and the RETURN_IF_ERROR / ASSIGN_OR_RETURN macros.
#include "common/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <sstream>
#include <string>

namespace shardtrain {
namespace {

TEST(StatusTest, DefaultIsOkWithEmptyMessage) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.message(), "");
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_EQ(s, OkStatus());
}

TEST(StatusTest, ErrorCarriesCodeAndMessage) {
  Status s = InvalidArgumentError("bad shape");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "bad shape");
  EXPECT_EQ(s.ToString(), "InvalidArgument: bad shape");
  std::ostringstream out;
  out << s;
  EXPECT_EQ(out.str(), "InvalidArgument: bad shape");
}

TEST(StatusTest, OkCodeDropsTheMessage) {
  Status s(StatusCode::kOk, "ignored");
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.message(), "");
}

TEST(StatusTest, EveryConstructorHasItsCode) {
  EXPECT_EQ(CancelledError("x").code(), StatusCode::kCancelled);
  EXPECT_EQ(DeadlineExceededError("x").code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(NotFoundError("x").code(), StatusCode::kNotFound);
  EXPECT_EQ(AlreadyExistsError("x").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(PermissionDeniedError("x").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ResourceExhaustedError("x").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(FailedPreconditionError("x").code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(AbortedError("x").code(), StatusCode::kAborted);
  EXPECT_EQ(OutOfRangeError("x").code(), StatusCode::kOutOfRange);
  EXPECT_EQ(UnimplementedError("x").code(), StatusCode::kUnimplemented);
  EXPECT_EQ(InternalError("x").code(), StatusCode::kInternal);
  EXPECT_EQ(UnavailableError("x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(DataLossError("x").code(), StatusCode::kDataLoss);
  EXPECT_EQ(StatusCodeName(StatusCode::kDataLoss), "DataLoss");
  EXPECT_EQ(StatusCodeName(StatusCode::kFailedPrecondition), "FailedPrecondition");
}

TEST(StatusTest, EqualityComparesCodeAndMessage) {
  EXPECT_EQ(NotFoundError("a"), NotFoundError("a"));
  EXPECT_FALSE(NotFoundError("a") == NotFoundError("b"));
  EXPECT_FALSE(NotFoundError("a") == DataLossError("a"));
}

TEST(StatusTest, WithContextPrefixesErrorsOnly) {
  EXPECT_EQ(DataLossError("crc mismatch").WithContext("reading a.index"),
            DataLossError("reading a.index: crc mismatch"));
  EXPECT_TRUE(OkStatus().WithContext("anything").ok());
  EXPECT_EQ(OkStatus().WithContext("anything").message(), "");
}

TEST(StatusTest, ErrnoMapsToCanonicalCodes) {
  Status s = ErrnoToStatus(ENOENT, "open", "/no/such");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("open '/no/such': "), std::string::npos) << s;
  EXPECT_EQ(ErrnoToStatus(EACCES, "open", "p").code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoToStatus(ENOSPC, "write", "p").code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ErrnoToStatus(EEXIST, "mkdir", "p").code(), StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoToStatus(EIO, "read", "p").code(), StatusCode::kDataLoss);
  EXPECT_EQ(ErrnoToStatus(EINTR, "read", "p").code(), StatusCode::kUnavailable);
  EXPECT_EQ(ErrnoToStatus(EXDEV, "rename", "p").code(), StatusCode::kUnknown);
}

TEST(StatusOrTest, HoldsAValue) {
  StatusOr<int> v = 42;
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v.status().ok());
  EXPECT_EQ(*v, 42);
  EXPECT_EQ(v.value(), 42);
  *v = 7;
  EXPECT_EQ(v.value(), 7);
}

TEST(StatusOrTest, HoldsAnError) {
  StatusOr<int> v = NotFoundError("gone");
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(v.status(), NotFoundError("gone"));
}

TEST(StatusOrTest, OkStatusBecomesInternalError) {
  StatusOr<int> v = OkStatus();
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.status().code(), StatusCode::kInternal);
}

TEST(StatusOrTest, MoveOnlyValuesAndConversions) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(5);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> owned = std::move(p).value();
  EXPECT_EQ(*owned, 5);
  StatusOr<std::string> s = "converted";  // const char* -> std::string
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->size(), 9u);
}

Status FailIf(bool fail) { return fail ? AbortedError("failed") : OkStatus(); }

Status Chain(bool fail, int* reached) {
  RETURN_IF_ERROR(FailIf(fail));
  *reached = 1;
  return OkStatus();
}

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgumentError("odd: " + std::to_string(x));
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int half, Half(x));
  ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstError) {
  int reached = 0;
  EXPECT_EQ(Chain(true, &reached), AbortedError("failed"));
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(Chain(false, &reached).ok());
  EXPECT_EQ(reached, 1);
}

TEST(StatusMacrosTest, AssignOrReturnUnwrapsOrPropagates) {
  auto ok = Quarter(12);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 3);
  EXPECT_EQ(Quarter(6).status(), InvalidArgumentError("odd: 3"));
  EXPECT_EQ(Quarter(5).status(), InvalidArgumentError("odd: 5"));
}

}  // namespace
}  // namespace shardtrain
