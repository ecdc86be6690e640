/**
 * The icon of the gallery: a small grid of coloured blocks.
 */
import { LabIcon } from '@jupyterlab/ui-components';

import blocksSvgStr from '../style/icons/blocks.svg';

export const blocksIcon = new LabIcon({
  name: 'jupyter-blocks:blocks',
  svgstr: blocksSvgStr
});
