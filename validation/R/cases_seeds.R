## Seed-document models (lactase, Orthodont lecture, RatPupWeight/ASReml, sires) ->
## validation/references/seeds.json.   Rscript validation/R/cases_seeds.R
local({
  a <- grep("^--file=", commandArgs(FALSE), value = TRUE)
  RDIR <<- if (length(a)) dirname(normalizePath(sub("^--file=", "", a[1]))) else "validation/R"
})
source(file.path(RDIR, "common.R"))

LACT_NOTE <- paste("lactase row 24 (pig 8, reg 3) has a missing loglact: dropped (na.omit),",
                   "fitted/resid arrays have null there")

specs <- list(
  case("S01", "lactase fit1: reg*status, random litter/pig (seed 002, REML)", "lactase",
       "lme(loglact ~ reg + status + reg:status, data = lactase, random = ~ 1 | litter/pig, na.action = na.omit)",
       "lme('loglact ~ reg + status + reg:status', data=lactase, random='~ 1 | litter/pig')",
       check = list(-39.95718),
       notes = c(LACT_NOTE, paste("seed: AIC 97.91436, anova denDF 35/35/14/35, F 478.7082 10.2922 2.5496 5.6265;",
                                  "litter SD is essentially 0 (2.3e-5 in the seed): boundary, compare logLik/fixef,",
                                  "not the litter SD; its interval is meaningless"))),
  case("S02", "lactase fit2: random pig only (seed 002, REML)", "lactase",
       "lme(loglact ~ reg + status + reg:status, data = lactase, random = ~ 1 | pig, na.action = na.omit)",
       "lme('loglact ~ reg + status + reg:status', data=lactase, random='~ 1 | pig')",
       check = list(-39.95718),
       notes = c(LACT_NOTE, "pig labels 1..20 are unique across litters; seed AIC 95.91436")),
  case("S03", "lactase fit3: no random effects, gls REML (seed used lm; its REML logLik is the same)", "lactase",
       "gls(loglact ~ reg + status + reg:status, data = lactase, na.action = na.omit)",
       "gls('loglact ~ reg + status + reg:status', data=lactase)",
       check = list(-44.73165),
       notes = c(LACT_NOTE, "seed: anova(fit2, fit3) L.Ratio 9.548944 (REML logLiks)")),
  case("S04", "Orthodont fit2: Sex * I(age - 11), random intercept (seed 002)", "Orthodont",
       "lme(distance ~ Sex * I(age - 11), data = Orthodont, random = ~ 1 | Subject)",
       "lme('distance ~ Sex * I(age - 11)', data=Orthodont, random='~ 1 | Subject')",
       check = list(-216.8786, "R07/seed_fit2_logLik"),
       notes = "seed anova F 4123.156 / 9.292 / 122.450 / 6.303, denDF 79/25/79/79"),
  case("S05", "Orthodont fit3: fit2 + varIdent(~1|Sex) (seed 002)", "Orthodont",
       "lme(distance ~ Sex * I(age - 11), data = Orthodont, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex))",
       "lme('distance ~ Sex * I(age - 11)', data=Orthodont, random='~ 1 | Subject', weights=VarIdent(form='~ 1 | Sex'))",
       check = list(-207.6102, "R07/seed_fit3_logLik"),
       notes = paste("seed Female ratio 0.4678944; reference stratum Male = first level of Sex and",
                     "first stratum in nlme's sorted order (Subject level M16 first)")),
  case("S06", "RatPupWeight varIdent(~1|treatment), Control/Female coding (ASReml seed ASR008 = shared R14)", "ratpup",
       "lme(weight ~ Lsize + treatment + sex + treatment:sex, data = ratpup, random = ~ 1 | Litter, weights = varIdent(form = ~ 1 | treatment))",
       "lme('weight ~ Lsize + treatment + sex + treatment:sex', data=ratpup, random='~ 1 | Litter', weights=VarIdent(form='~ 1 | treatment'))",
       check = list("R14"),
       notes = paste("ratpup.csv = RatPupWeight with treatment re-coded unordered Control/High/Low and",
                     "sex Female/Male (R14's recoding). ASReml: litter var 0.09827257, residual vars",
                     "Control 0.26501379 High 0.10835920 Low 0.08459389 (= sigma^2 * ratio^2).",
                     "Reference stratum Control: first level and first stratum after sorting by Litter",
                     "(first Litter level 9 is a Control litter)")),
  case("S07", "sires: one-way random sire model (seed 003, REML)", "sires",
       "lme(bw ~ 1, data = sires, random = ~ 1 | sire)",
       "lme('bw ~ 1', data=sires, random='~ 1 | sire')",
       notes = paste("seed (SAS REML): sire variance 116.75, residual variance 463.79 (MS error",
                     "463.79286), mean 82.55 with SE 5.9114 on 4 df; balanced, so REML = ANOVA estimates")),
  case("S08", "lactase fit1, ML refit", "lactase",
       "lme(loglact ~ reg + status + reg:status, data = lactase, random = ~ 1 | litter/pig, na.action = na.omit, method = \"ML\")",
       "lme('loglact ~ reg + status + reg:status', data=lactase, random='~ 1 | litter/pig', method='ML')",
       notes = c(LACT_NOTE, "litter SD at the boundary (~0) as in the REML fit")),
  case("S09", "Orthodont fit2, ML refit", "Orthodont",
       "lme(distance ~ Sex * I(age - 11), data = Orthodont, random = ~ 1 | Subject, method = \"ML\")",
       "lme('distance ~ Sex * I(age - 11)', data=Orthodont, random='~ 1 | Subject', method='ML')",
       notes = "lme ML: summary SEs (fixef se/t) are scaled by sqrt(N/(N-p)), intervals are not"),
  case("S10", "Orthodont fit3 (varIdent), ML refit", "Orthodont",
       "lme(distance ~ Sex * I(age - 11), data = Orthodont, random = ~ 1 | Subject, weights = varIdent(form = ~ 1 | Sex), method = \"ML\")",
       "lme('distance ~ Sex * I(age - 11)', data=Orthodont, random='~ 1 | Subject', weights=VarIdent(form='~ 1 | Sex'), method='ML')")
)

cases <- run_cases(specs, "seeds")

## extra console checks against the seeds
s1 <- cases[[1]]; cat("S01 AIC", s1$AIC, " anova F:", sapply(s1$anova$sequential, `[[`, "F-value"),
                      " denDF:", sapply(s1$anova$sequential, `[[`, "denDF"), "\n")
s7 <- cases[[7]]; cat("S07 sire var", s7$reSD$sire$sd[[1]]^2, " resid var", s7$sigma^2,
                      " mean", s7$fixef$estimate, " se", s7$fixef$se, "\n")
