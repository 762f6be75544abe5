# lme4 references for lmmext's statsmodels door: statsmodels' vc_formula as independent
# variance components within the group.
#
# Data: validation/data/sm_crossed_vc.csv (statsmodels' test_random_effects_getters
# data, written by validation/data/make_sm_crossed_vc.py).  statsmodels' model
#   MixedLM.from_formula("y ~ x0 + x1", re_formula="~0 + z0 + z1",
#                        vc_formula={"v0": "0 + C(v0)", "v1": "0 + C(v1)"}, groups="g")
# is lme4's  y ~ x0 + x1 + (0 + z0 + z1 | g) + (1 | g:v0) + (1 | g:v1).
#
#   Rscript validation/R/statsmodels_door.R   # -> references_statsmodels/crossed_vc.json
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
args <- commandArgs(trailingOnly = FALSE)
here <- dirname(normalizePath(sub("--file=", "", args[grep("--file=", args)])))
vdir <- dirname(here)
d <- read.csv(file.path(vdir, "data", "sm_crossed_vc.csv"))
d$g <- factor(d$g); d$v0 <- factor(d$v0); d$v1 <- factor(d$v1)
ctrl <- lmerControl(optimizer = "nloptwrap",
                    optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12,
                                   xtol_rel = 1e-12, maxeval = 1e5))
out <- list()
for (reml in c(TRUE, FALSE)) {
  fit <- lmer(y ~ x0 + x1 + (0 + z0 + z1 | g) + (1 | g:v0) + (1 | g:v1), data = d,
              REML = reml, control = ctrl)
  vc <- VarCorr(fit)
  key <- if (reml) "REML" else "ML"
  out[[key]] <- list(
    logLik = as.numeric(logLik(fit)),
    fe_params = as.list(fixef(fit)),
    cov_re = unname(as.matrix(vc$g)),
    vcomp = list(v0 = as.numeric(vc[["g:v0"]]), v1 = as.numeric(vc[["g:v1"]])),
    scale = sigma(fit)^2,
    bse_fe = as.list(sqrt(diag(as.matrix(vcov(fit))))))
  cat(key, sprintf("%.10f", out[[key]]$logLik), "\n")
}
out$lme4 <- as.character(packageVersion("lme4"))
out$R <- R.version.string
dir.create(file.path(vdir, "references_statsmodels"), showWarnings = FALSE)
writeLines(toJSON(out, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(vdir, "references_statsmodels", "crossed_vc.json"))

# nlme: the conditional covariance of the random effects given the data, D - D Z'V^-1 Z D,
# and the BLUPs, of Orthodont distance ~ age + Sex, random = ~ 1 | Subject,
# varIdent(~ 1 | Sex), corAR1(~ 1 | Subject) (REML): what the statsmodels door's
# random_effects_cov and random_effects must give under the structures.
RDIR <- here
source(file.path(here, "common.R"))      # nlme, load_ds(): the data the Python side builds
o <- load_ds("Orthodont")
fit <- lme(distance ~ age + Sex, data = o, random = ~ 1 | Subject,
           weights = varIdent(form = ~ 1 | Sex), correlation = corAR1(form = ~ 1 | Subject),
           method = "REML", control = lmeControl(msMaxIter = 500, tolerance = 1e-10,
                                                 msTol = 1e-12))
D <- getVarCov(fit)[1, 1]
condvar <- sapply(levels(o$Subject), function(s) {
  V <- getVarCov(fit, individuals = s, type = "marginal")[[1]]
  Z <- matrix(1, nrow(V), 1)
  D - D * drop(t(Z) %*% solve(V, Z)) * D
})
re <- ranef(fit)
ref <- list(logLik = as.numeric(logLik(fit)), fe_params = as.list(fixef(fit)),
            condvar = as.list(condvar),
            blup = setNames(as.list(re[, 1]), rownames(re)),
            nlme = as.character(packageVersion("nlme")))
cat("Orthodont VarIdent + AR1", sprintf("%.10f", ref$logLik), "\n")
writeLines(toJSON(ref, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(vdir, "references_statsmodels", "orthodont_varident_ar1.json"))

# nlme: statsmodels' crossed variance components with a variance function, as nlme's
# pdBlocked(pdSymm(~ 0 + z0 + z1), pdIdent(~ 0 + v0), pdIdent(~ 0 + v1)) within g and
# varIdent(form = ~ 1 | v0), REML (the statsmodels door with vc_formula and weights=).
d$v0f <- factor(d$v0); d$v1f <- factor(d$v1)
fitb <- lme(y ~ x0 + x1, data = d,
            random = list(g = pdBlocked(list(pdLogChol(~ 0 + z0 + z1), pdIdent(~ 0 + v0f),
                                             pdIdent(~ 0 + v1f)))),
            weights = varIdent(form = ~ 1 | v0f), method = "REML",
            control = lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10,
                                 msTol = 1e-12, returnObject = TRUE))
vcb <- as.numeric(VarCorr(fitb)[, "Variance"])
refb <- list(logLik = as.numeric(logLik(fitb)), fe_params = as.list(fixef(fitb)),
             variances = vcb, sigma = fitb$sigma,
             ratio = as.numeric(coef(fitb$modelStruct$varStruct, unconstrained = FALSE)),
             nlme = as.character(packageVersion("nlme")))
cat("crossed vc + varIdent", sprintf("%.10f", refb$logLik), "\n")
writeLines(toJSON(refb, digits = I(15), auto_unbox = TRUE, pretty = TRUE),
           file.path(vdir, "references_statsmodels", "crossed_vc_varident.json"))
