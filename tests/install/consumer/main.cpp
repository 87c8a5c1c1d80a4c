// Uses an installed Tessera through its public headers only; exits non-zero on a wrong result.
#include <tessera/tessera.h>

#include <cstdio>
#include <string>

int main() {
  // ones(2, 3) @ (2 * ones(3, 4)) = 6 everywhere.
  const ts::Tensor a = ts::ones({2, 3});
  const ts::Tensor b = ts::ones({3, 4}) * 2.0;
  const ts::Tensor c = ts::matmul(a, b);
  if (c.shape() != ts::Shape{2, 4}) {
    std::fprintf(stderr, "consumer: matmul shape %s, expected [2, 4]\n", ts::shape_str(c.shape()).c_str());
    return 1;
  }
  for (float v : c.to_vector<float>()) {
    if (v != 6.0f) {
      std::fprintf(stderr, "consumer: matmul value %g, expected 6\n", static_cast<double>(v));
      return 1;
    }
  }
  // Errors cross the library boundary as ts::Error.
  try {
    (void)ts::matmul(a, a);
    std::fprintf(stderr, "consumer: matmul of [2, 3] and [2, 3] did not throw\n");
    return 1;
  } catch (const ts::Error& e) {
    std::printf("consumer: mismatched matmul raised ts::Error: %s\n", e.what());
  }
  std::printf("consumer: ones(2,3) @ 2*ones(3,4) = 6 everywhere: ok\n");
  return 0;
}
