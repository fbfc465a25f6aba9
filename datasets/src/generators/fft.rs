//! A small iterative radix-2 complex FFT (enough for 256-point strain frames).

use std::f64::consts::PI;

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Complex {
    pub re: f64,
    pub im: f64,
}

impl Complex {
    pub const ZERO: Complex = Complex { re: 0.0, im: 0.0 };

    pub fn new(re: f64, im: f64) -> Self {
        Complex { re, im }
    }
    pub fn conj(self) -> Self {
        Complex::new(self.re, -self.im)
    }
    pub fn plus(self, o: Complex) -> Self {
        Complex::new(self.re + o.re, self.im + o.im)
    }
    pub fn minus(self, o: Complex) -> Self {
        Complex::new(self.re - o.re, self.im - o.im)
    }
    pub fn times(self, o: Complex) -> Self {
        Complex::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }
    pub fn scale(self, k: f64) -> Self {
        Complex::new(self.re * k, self.im * k)
    }
}

/// Precomputed twiddles and bit-reversal permutation for one power-of-two size.
#[derive(Debug, Clone)]
pub struct Fft {
    n: usize,
    twiddles: Vec<Complex>,
    rev: Vec<usize>,
}

impl Fft {
    /// `n` must be a power of two (>= 2).
    pub fn new(n: usize) -> Option<Fft> {
        if n < 2 || !n.is_power_of_two() {
            return None;
        }
        let bits = n.trailing_zeros();
        let rev = (0..n)
            .map(|i| i.reverse_bits() >> (usize::BITS - bits))
            .collect();
        let twiddles = (0..n / 2)
            .map(|k| {
                let a = -2.0 * PI * k as f64 / n as f64;
                Complex::new(a.cos(), a.sin())
            })
            .collect();
        Some(Fft { n, twiddles, rev })
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// In-place forward transform: X_k = sum_t x_t exp(-2 pi i k t / n).
    pub fn forward(&self, data: &mut [Complex]) {
        debug_assert_eq!(data.len(), self.n);
        for i in 0..self.n {
            let j = self.rev[i];
            if i < j {
                data.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= self.n {
            let step = self.n / len;
            for start in (0..self.n).step_by(len) {
                for k in 0..len / 2 {
                    let w = self.twiddles[k * step];
                    let a = data[start + k];
                    let b = data[start + k + len / 2].times(w);
                    data[start + k] = a.plus(b);
                    data[start + k + len / 2] = a.minus(b);
                }
            }
            len <<= 1;
        }
    }

    /// In-place inverse transform with 1/n normalisation.
    pub fn inverse(&self, data: &mut [Complex]) {
        for d in data.iter_mut() {
            *d = d.conj();
        }
        self.forward(data);
        let k = 1.0 / self.n as f64;
        for d in data.iter_mut() {
            *d = d.conj().scale(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_naive_dft_and_roundtrips() {
        let n = 16;
        let fft = Fft::new(n).expect("pow2");
        let x: Vec<Complex> = (0..n)
            .map(|i| Complex::new((i as f64 * 0.7).sin(), (i as f64 * 0.3).cos()))
            .collect();
        let mut y = x.clone();
        fft.forward(&mut y);
        for (k, yk) in y.iter().enumerate() {
            let mut s = Complex::ZERO;
            for (t, xt) in x.iter().enumerate() {
                let a = -2.0 * PI * (k * t) as f64 / n as f64;
                s = s.plus(xt.times(Complex::new(a.cos(), a.sin())));
            }
            assert!((s.re - yk.re).abs() < 1e-9 && (s.im - yk.im).abs() < 1e-9);
        }
        fft.inverse(&mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a.re - b.re).abs() < 1e-12 && (a.im - b.im).abs() < 1e-12);
        }
        assert!(Fft::new(12).is_none());
    }
}
