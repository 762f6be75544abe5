## nlme's Spruce (the benchmark's few-large-outer-groups case, issue 15): a boundary fit
## (the plot variance goes to zero) with nested levels plot / Tree.
## Writes benchmarks/data/Spruce.csv (R's row order) and
## validation/references_nlme15/spruce.json.  R 4.2.2, nlme 3.1-162, lme4.
source(file.path(local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  dirname(normalizePath(sub("^--file=", "", a[1])))
}), "common.R"))
suppressPackageStartupMessages(library(lme4))
d <- as.data.frame(Spruce)
d$Tree <- factor(as.character(d$Tree)); d$plot <- factor(as.character(d$plot))
write.csv(data.frame(Tree = as.character(d$Tree), days = d$days, logSize = d$logSize,
                     plot = as.character(d$plot)),
          file.path(VALDIR, "..", "benchmarks", "data", "Spruce.csv"), row.names = FALSE)
out <- list(generated_by = "validation/R/spruce.R", nlme = as.character(packageVersion("nlme")),
            lme4 = as.character(packageVersion("lme4")))
for (m in c("REML", "ML")) {
  f <- lme(logSize ~ days, data = d, random = list(plot = ~ 1, Tree = ~ I(days / 100)),
           method = m, control = lmeControl(msMaxIter = 500, maxIter = 500))
  g <- lmer(logSize ~ days + (1 | plot) + (I(days / 100) | plot:Tree), data = d,
            REML = (m == "REML"), control = lmerControl(optimizer = "bobyqa",
            optCtrl = list(maxfun = 1e5)))
  vc <- as.data.frame(VarCorr(g))
  out[[m]] <- list(
    nlme_logLik = as.numeric(logLik(f)), nlme_fixef = as.list(fixef(f)),
    nlme_sigma = f$sigma,
    lme4_logLik = as.numeric(logLik(g)), lme4_fixef = as.list(fixef(g)),
    lme4_sigma = sigma(g),
    lme4_tree_sd = vc$sdcor[vc$grp == "plot:Tree" & is.na(vc$var2)],
    lme4_tree_cor = vc$sdcor[vc$grp == "plot:Tree" & !is.na(vc$var2)],
    lme4_plot_sd = vc$sdcor[vc$grp == "plot"])
  cat(m, "nlme", out[[m]]$nlme_logLik, "lme4", out[[m]]$lme4_logLik, "plot SD", out[[m]]$lme4_plot_sd, "\n")
}
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE),
           file.path(VALDIR, "references_nlme15", "spruce.json"))
