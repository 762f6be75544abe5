# lme4 references for issue 19 (uncentered covariates): Orthodont distance ~ Sex * age
# + (age | Subject) by REML with age shifted by 0, 10, 100, 1000.  The REML criterion is
# invariant to the shift (the model is the same family), so every logLik must be equal;
# lme4 centres nothing either, so its optimizer is checked by its own deviance function
# at the parameters mapped from the unshifted fit (D' = T^-1 D T^-T for age + a).
#   Rscript validation/R/shifted_covariates.R  # -> references_statsmodels/shifted_age.json
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
RDIR <- here
source(file.path(here, "common.R"))
o <- load_ds("Orthodont")
o$Subject <- factor(o$Subject, ordered = FALSE)
ctrl <- lmerControl(optimizer = "nloptwrap",
                    optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12,
                                   xtol_rel = 1e-12, maxeval = 1e5))
fit0 <- lmer(distance ~ Sex * age + (age | Subject), data = o, REML = TRUE, control = ctrl)
D0 <- as.matrix(VarCorr(fit0)$Subject)
s <- sigma(fit0)
out <- list(lme4 = as.character(packageVersion("lme4")))
for (a in c(0, 10, 100, 1000)) {
  d <- o; d$age <- d$age + a
  # the unshifted optimum in the shifted coordinates: b0' = b0 - a b1, so D' = T D T'
  T <- matrix(c(1, 0, -a, 1), 2, 2)          # columns: (1, -a), (0, 1)
  Dp <- T %*% D0 %*% t(T)
  L <- t(chol(Dp / s^2))
  devf <- lmer(distance ~ Sex * age + (age | Subject), data = d, REML = TRUE,
               devFunOnly = TRUE)
  theta <- c(L[1, 1], L[2, 1], L[2, 2])
  out[[paste0("shift_", a)]] <- list(logLik_at_mapped = -devf(theta) / 2,
                                     logLik_fit = as.numeric(logLik(lmer(
                                       distance ~ Sex * age + (age | Subject), data = d,
                                       REML = TRUE))))
  cat(a, sprintf("%.10f %.10f", out[[paste0("shift_", a)]]$logLik_at_mapped,
                 out[[paste0("shift_", a)]]$logLik_fit), "\n")
}
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(VALDIR, "references_statsmodels", "shifted_age.json"))
