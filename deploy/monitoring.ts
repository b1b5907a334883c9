import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { EMF_DIMENSIONS, EMF_METRICS } from '../shared/emf.ts';

// What the team watches: the restore hit rate and what restores saved, from the metrics
// the client writes as CloudWatch Embedded Metric Format lines (`--emf`; names in
// shared/emf.ts, which client/report.ts writes), read from the builds' logs with no SDK
// call; and the load balancer's view of the servers. An alarm when the hit rate stays
// under its floor for an hour.

export interface MonitoringProps {
  emfNamespace: string;
  hitRateThreshold: number;
  loadBalancerMetrics: { requests: cloudwatch.IMetric; errors: cloudwatch.IMetric; latency: cloudwatch.IMetric };
}

export class Monitoring extends Construct {
  readonly hitRate: cloudwatch.MathExpression;
  readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const restore = (metricName: string, label: string) =>
      new cloudwatch.Metric({ namespace: props.emfNamespace, metricName, dimensionsMap: { [EMF_DIMENSIONS.command]: 'restore' }, statistic: 'Sum', period: Duration.hours(1), label });
    this.hitRate = new cloudwatch.MathExpression({
      expression: 'hits / (hits + misses)',
      usingMetrics: { hits: restore(EMF_METRICS.hit, 'hits'), misses: restore(EMF_METRICS.miss, 'misses') },
      label: 'restore hit rate',
      period: Duration.hours(1),
    });
    this.alarm = this.hitRate.createAlarm(this, 'HitRateAlarm', {
      alarmDescription: `larder restore hit rate below ${Math.round(props.hitRateThreshold * 100)} % for an hour`,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      threshold: props.hitRateThreshold,
      evaluationPeriods: 1,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, // no builds, no alarm
    });
    new cloudwatch.Dashboard(this, 'Dashboard', {
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: 'Restore hit rate', left: [this.hitRate], leftYAxis: { min: 0, max: 1 }, leftAnnotations: [{ value: props.hitRateThreshold, label: 'alarm' }] }),
          new cloudwatch.GraphWidget({ title: 'Bytes restores downloaded', left: [restore(EMF_METRICS.transferredBytes, 'bytes')] }),
          new cloudwatch.GraphWidget({ title: 'Build time restores saved (s)', left: [restore(EMF_METRICS.savedSeconds, 'seconds saved')] }),
        ],
        [
          new cloudwatch.GraphWidget({ title: 'Requests to the servers', left: [props.loadBalancerMetrics.requests], right: [props.loadBalancerMetrics.errors] }),
          new cloudwatch.GraphWidget({ title: 'Response time (p99)', left: [props.loadBalancerMetrics.latency] }),
        ],
      ],
    });
  }
}
