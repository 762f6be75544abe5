## nlme's random-effects covariance classes and crossed random effects (issue 14):
## pdCompSymm (Oats), pdBlocked of pdIdent blocks (Assay), crossed effects of lme4's
## Penicillin by nlme's pdBlocked within a constant group and by lme4 itself, with a
## variance function and a correlation structure, and the large crossed benchmark's
## check.  Writes validation/data/{Assay,Penicillin}.csv (+ their levels.json entries)
## and validation/references_nlme14/pdmat_crossed.json.
##
##   Rscript validation/R/pdmat_crossed.R      (~10 s; needs r-cran-nlme, r-cran-lme4)
RDIR <- local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  dirname(normalizePath(sub("^--file=", "", a[1])))
})
source(file.path(RDIR, "common.R"))
suppressPackageStartupMessages(library(lme4))
## lme4 masks nlme's lmList; nlme's fits below are called with nlme::lme
OUTDIR <- file.path(VALDIR, "references_nlme14")
dir.create(OUTDIR, showWarnings = FALSE)

write_dataset("Assay", nlme::Assay)
write_dataset("Penicillin", lme4::Penicillin)

ctrl <- lmeControl(msMaxIter = 500, maxIter = 500, tolerance = 1e-10, msTol = 1e-12,
                   niterEM = 100)
specs <- list(
  list(id = "PD01", dataset = "Oats", title = "Oats, pdCompSymm(~ Variety - 1) per Block (P&B fm4OatsB)",
       r_call = "nlme::lme(yield ~ nitro, data = Oats, random = list(Block = pdCompSymm(~ Variety - 1)), control = ctrl)",
       py = "lme('yield ~ nitro', Oats, random={'Block': pdCompSymm('~ Variety - 1')})"),
  list(id = "PD02", dataset = "Oats", title = "Oats, pdCompSymm, ML",
       r_call = "nlme::lme(yield ~ nitro, data = Oats, random = list(Block = pdCompSymm(~ Variety - 1)), method = 'ML', control = ctrl)",
       py = "lme('yield ~ nitro', Oats, random={'Block': pdCompSymm('~ Variety - 1')}, method='ML')"),
  list(id = "PD03", dataset = "Assay", title = "Assay, pdBlocked(pdIdent(~1), pdIdent(~sample-1), pdIdent(~dilut-1)) per Block (P&B fm1Assay)",
       r_call = "nlme::lme(logDens ~ sample * dilut, data = Assay, random = list(Block = pdBlocked(list(pdIdent(~ 1), pdIdent(~ sample - 1), pdIdent(~ dilut - 1)))), control = ctrl)",
       py = "lme('logDens ~ sample * dilut', Assay, random={'Block': pdBlocked([pdIdent('~ 1'), pdIdent('~ sample - 1'), pdIdent('~ dilut - 1')])})"),
  list(id = "PD04", dataset = "Oats", title = "Oats, pdDiag(~ Variety - 1) per Block",
       r_call = "nlme::lme(yield ~ nitro, data = Oats, random = list(Block = pdDiag(~ Variety - 1)), control = ctrl)",
       py = "lme('yield ~ nitro', Oats, random={'Block': pdDiag('~ Variety - 1')})"),
  list(id = "PD05", dataset = "Penicillin", title = "Penicillin crossed plate x sample, pdBlocked within one group",
       r_call = "nlme::lme(diameter ~ 1, data = Penicillin, random = list(one = pdBlocked(list(pdIdent(~ plate - 1), pdIdent(~ sample - 1)))), control = ctrl)",
       py = "lme('diameter ~ 1', Penicillin, random='(1 | plate) + (1 | sample)')"),
  list(id = "PD06", dataset = "Penicillin", title = "Penicillin crossed, varIdent(~ 1 | sample)",
       r_call = "nlme::lme(diameter ~ 1, data = Penicillin, random = list(one = pdBlocked(list(pdIdent(~ plate - 1), pdIdent(~ sample - 1)))), weights = varIdent(form = ~ 1 | sample), control = ctrl)",
       py = "lme('diameter ~ 1', Penicillin, random='(1 | plate) + (1 | sample)', weights=VarIdent(form='~ 1 | sample'))"),
  list(id = "PD07", dataset = "Penicillin", title = "Penicillin crossed, corAR1 over the samples within a plate",
       r_call = "nlme::lme(diameter ~ 1, data = Penicillin, random = list(one = pdBlocked(list(pdIdent(~ plate - 1), pdIdent(~ sample - 1)))), correlation = corAR1(form = ~ 1 | one/plate), control = ctrl)",
       py = "lme('diameter ~ 1', Penicillin, random='(1 | plate) + (1 | sample)', correlation=CorAR1(form='~ 1 | plate'))"),
  list(id = "PD08", dataset = "Penicillin", title = "Penicillin crossed, ML",
       r_call = "nlme::lme(diameter ~ 1, data = Penicillin, random = list(one = pdBlocked(list(pdIdent(~ plate - 1), pdIdent(~ sample - 1)))), method = 'ML', control = ctrl)",
       py = "lme('diameter ~ 1', Penicillin, random='(1 | plate) + (1 | sample)', method='ML')")
)

cases <- list()
for (spec in specs) {
  data <- load_ds(spec$dataset)
  if (spec$dataset == "Penicillin") data$one <- factor(1)   # nlme's constant grouping
  env <- new.env(parent = globalenv())
  assign(spec$dataset, data, envir = env)
  assign("ctrl", ctrl, envir = env)
  fit <- eval(parse(text = spec$r_call)[[1]], envir = env)
  spec$anova <- FALSE
  out <- dump_case(spec, "pdmat", fit, data)
  ## the random-effects covariance (sigma^2 D~) of the first level, and its intervals
  out$D <- unname(split(as.numeric(getVarCov(fit)), row(getVarCov(fit))))
  out$D_names <- colnames(getVarCov(fit))
  out$reStruct_print <- capture.output(print(summary(fit)$modelStruct$reStruct))
  cases[[spec$id]] <- out
  cat(sprintf("%-5s %-5s %.10f  df=%d  %s\n", spec$id, fit$method, out$logLik, out$df,
              spec$title))
}

## lme4's own crossed fits: the lme4 spelling's reference
lctrl <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(ftol_abs = 1e-14, ftol_rel = 1e-14, xtol_abs = 1e-12,
                                    xtol_rel = 1e-12, maxeval = 1e5))
lme4_case <- function(formula, data, reml) {
  fit <- lmer(formula, data = data, REML = reml, control = lctrl)
  vc <- as.data.frame(VarCorr(fit))
  re <- ranef(fit)
  list(formula = deparse(formula), REML = reml, logLik = as.numeric(logLik(fit)),
       fixef = as.list(fixef(fit)), se = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       vcov = vc[, c("grp", "var1", "var2", "vcov", "sdcor")],
       sigma = sigma(fit),
       ranef = lapply(re, function(df) list(levels = rownames(df), values = as.list(df))))
}
pen <- load_ds("Penicillin")
assay <- load_ds("Assay")
lme4_cases <- list(
  penicillin_reml = lme4_case(diameter ~ 1 + (1 | plate) + (1 | sample), pen, TRUE),
  penicillin_ml = lme4_case(diameter ~ 1 + (1 | plate) + (1 | sample), pen, FALSE),
  assay_reml = lme4_case(logDens ~ sample * dilut + (1 | Block) + (1 | Block:sample) +
                           (1 | Block:dilut), assay, TRUE))
for (nm in names(lme4_cases)) cat(sprintf("lme4 %-16s %.10f\n", nm, lme4_cases[[nm]]$logLik))

out <- list(nlme = cases, lme4 = lme4_cases, R = R.version.string,
            nlme_version = as.character(packageVersion("nlme")),
            lme4_version = as.character(packageVersion("lme4")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null",
                  na = "null"),
           file.path(OUTDIR, "pdmat_crossed.json"))
cat("wrote", file.path(OUTDIR, "pdmat_crossed.json"), "\n")
