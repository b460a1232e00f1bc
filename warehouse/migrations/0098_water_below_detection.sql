-- Results below the detection limit (issue 19 item 2): a water section's period row says which
-- parameters had results below the method's detection limit (flag BDL, counted at half the limit
-- in the mean: transforms/standards/tables/water_statistics.csv) and which were not detected at
-- all in the period (every valid result below the limit; shown as 未检出 (<limit)).
ALTER TABLE water_class ADD COLUMN below_detection_counts VARCHAR;  -- 'nh3n=3/4': below the limit / valid results
ALTER TABLE water_class ADD COLUMN not_detected_limits VARCHAR;     -- 'nh3n=0.025': every valid result below this limit
